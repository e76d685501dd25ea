"""provision → verify → drift to `Cluster` → verify fails → back to `Local` → teardown, on the twin.

One environment goes through its whole life in order; each test builds on the previous one.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from kubernetes import client, config
from prefect.client.orchestration import get_client

from flows.provision import ProvisionResult, provision
from flows.teardown import teardown
from flows.verify import VerifyResult, verify
from kops_nlb.core.errors import SpecError
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import worker
from sandbox.world import World
from tests.e2e.prefect_runs import artifact, log_messages

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


def aws(service: str, world: World) -> Any:
    return boto3.client(service, endpoint_url=world.aws.url, region_name=world.config.region)


def live_instances(world: World, cluster: str = "e2e.k8s.local") -> list[dict[str, Any]]:
    """The running instances of this environment (other tests' environments share the twin)."""
    reservations = aws("ec2", world).describe_instances(
        Filters=[
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
            {"Name": "tag-value", "Values": [cluster]},
        ]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def kops_commands(world: World) -> list[list[str]]:
    log = Path(world.home) / "kops-argv.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def creates(world: World, cluster: str = "e2e.k8s.local") -> int:
    return sum(
        1 for argv in kops_commands(world) if argv[:2] == ["create", "cluster"] and cluster in argv
    )


def kubeconfig_of(spec: EnvironmentSpec) -> str:
    """The admin kubeconfig the worker keeps for the spec's cluster."""
    return str(worker.kubeconfig_file(spec.cluster_name))


def set_policy(twin: World, spec: EnvironmentSpec, policy: str, timeout: float = 60.0) -> None:
    """Patch the Service's policy, then wait until the twin's NLB data path forwards by it (as
    kube-proxy and the NLB take a moment to follow a Service change on AWS too)."""
    api = config.new_client_from_config(config_file=kubeconfig_of(spec))
    client.CoreV1Api(api).patch_namespaced_service(
        spec.service_name, spec.namespace, {"spec": {"externalTrafficPolicy": policy}}
    )
    node_ips = {n.status.addresses[0].address for n in client.CoreV1Api(api).list_node().items}
    deadline = time.monotonic() + timeout
    while True:
        ours = [
            plan
            for plan in twin.nlb.plans()
            if plan.targets and {t.node_ip for t in plan.targets} <= node_ips
        ]
        if ours and all(plan.traffic_policy == policy for plan in ours):
            return
        assert time.monotonic() < deadline, f"the data path did not follow {policy} in {timeout}s"
        time.sleep(0.1)


def load_balancers(world: World, cluster: str) -> list[str]:
    """The names of the load balancers tagged with ``cluster`` (others share the twin)."""
    elbv2 = aws("elbv2", world)
    names = []
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]
        if any(
            cluster in (t["Key"], t["Value"]) or t["Key"].endswith("/" + cluster)
            for t in tags["Tags"]
        ):
            names.append(lb["LoadBalancerName"])
    return names


@pytest.mark.parametrize(
    "bad",
    [
        {"cluster_name": "Not_A_Name.k8s.local"},
        {"zones": ["us-east-1a"]},
        {"node_count": 0},
        {"kubernetes_version": "1.9.1"},
        {"service_port": 70000},
        {"external_traffic_policy": "Nearest"},
        {"state_store_bucket": "Bad_Bucket"},
    ],
    ids=lambda bad: next(iter(bad)),
)
def test_bad_input_fails_before_any_write(twin: World, bad: dict[str, object]) -> None:
    before = twin.aws.write_counts()
    state = provision(spec={"cluster_name": "e2e.k8s.local", **bad}, return_state=True)
    assert state.is_failed()
    assert twin.aws.write_counts() - before == Counter()


def test_wrong_zone_fails_in_preflight_before_any_write(twin: World, spec: EnvironmentSpec) -> None:
    bad = spec.model_copy(update={"zones": ("ap-northeast-1z",)})
    before = twin.aws.write_counts()
    state = provision(spec=bad, return_state=True)
    assert state.is_failed()
    with pytest.raises(SpecError, match="ap-northeast-1z"):
        state.result()
    assert twin.aws.write_counts() - before == Counter()


def test_provision_builds_the_environment(twin: World, spec: EnvironmentSpec) -> None:
    result = provision(spec=spec)
    assert isinstance(result, ProvisionResult)
    assert result.changed
    assert result.nlb_dns_name.endswith(".elb.ap-northeast-1.amazonaws.com")
    assert ipaddress.ip_address(result.bastion_private_ip) in ipaddress.ip_network(
        twin.config.vpc_cidr
    )
    assert len(result.nginx_nodes) == 2  # spread over both worker nodes
    assert len(live_instances(twin)) == 1 + 2 + 1  # control plane, nodes, bastion
    assert creates(twin) == 1
    assert Path(kubeconfig_of(spec)).stat().st_mode & 0o777 == 0o600
    summary = artifact("provision-e2e-k8s-local")
    assert result.nlb_dns_name in summary and result.bastion_instance_id in summary


def api_load_balancer_dns_name(twin: World, cluster: str) -> str:
    """The DNS name of the API load balancer kops made for ``cluster`` (by kops's Name tag)."""
    elbv2 = aws("elbv2", twin)
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]
        if {"Key": "Name", "Value": f"api.{cluster}"} in tags["Tags"]:
            return str(lb["DNSName"])
    raise AssertionError(f"no API load balancer of {cluster}")


def test_real_kops_validates_through_the_api_load_balancer(
    twin: World, spec: EnvironmentSpec
) -> None:
    # The kubeconfig is real kops's: its server is the internal API load balancer's AWS name,
    # which only the VPC proxy (HTTPS_PROXY) leads to.
    kubeconfig = yaml.safe_load(Path(kubeconfig_of(spec)).read_text())
    (entry,) = kubeconfig["clusters"]
    api_name = api_load_balancer_dns_name(twin, spec.cluster_name)
    assert entry["cluster"]["server"] == f"https://{api_name}"
    assert entry["cluster"]["tls-server-name"] == f"api.internal.{spec.cluster_name}"
    tunnels = twin.vpc_proxy.tunnels
    # Real `kops validate cluster` (the product's command line, run again) reads the real
    # apiserver's Nodes and kube-system Pods and the instance groups from the twin's AWS.
    *_, argv = (a for a in kops_commands(twin) if a[:2] == ["validate", "cluster"])
    assert spec.cluster_name in argv
    done = subprocess.run(
        ["kops", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert not report.get("failures")
    assert sorted(n["role"] for n in report["nodes"]) == ["control-plane", "node", "node"]
    assert twin.vpc_proxy.tunnels > tunnels


def health_check(twin: World, spec: EnvironmentSpec) -> tuple[str, str]:
    """The protocol and port of the health check of the Service's NLB's target group."""
    elbv2 = aws("elbv2", twin)
    [lb] = [
        lb
        for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        if lb["DNSName"] == provisioned_hostname(spec)
    ]
    [group] = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    return group["HealthCheckProtocol"], group["HealthCheckPort"]


def provisioned_hostname(spec: EnvironmentSpec) -> str:
    api = config.new_client_from_config(config_file=kubeconfig_of(spec))
    service = client.CoreV1Api(api).read_namespaced_service(spec.service_name, spec.namespace)
    return str(service.status.load_balancer.ingress[0].hostname)


def test_the_real_cloud_controller_made_the_nlb(twin: World, spec: EnvironmentSpec) -> None:
    host = twin.hosts.host(spec.cluster_name) if twin.hosts is not None else None
    assert host is not None and "aws-cloud-controller-manager" in host.control_plane.pids()
    api = config.new_client_from_config(config_file=kubeconfig_of(spec))
    events = client.CoreV1Api(api).list_namespaced_event(
        spec.namespace, field_selector=f"involvedObject.name={spec.service_name}"
    )
    assert {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= {e.reason for e in events.items}
    protocol, port = health_check(twin, spec)
    service = client.CoreV1Api(api).read_namespaced_service(spec.service_name, spec.namespace)
    assert (protocol, port) == ("HTTP", str(service.spec.health_check_node_port))


def test_second_provision_changes_nothing(twin: World, spec: EnvironmentSpec) -> None:
    instances = {i["InstanceId"] for i in live_instances(twin)}
    writes_before = twin.aws.write_counts()
    result = provision(spec=spec)
    assert not result.changed, [s for s in result.steps if s.changed]
    assert {i["InstanceId"] for i in live_instances(twin)} == instances
    assert creates(twin) == 1
    assert twin.aws.write_counts() - writes_before == Counter()
    assert "Nothing changed" in artifact("provision-e2e-k8s-local")


def test_verify_proves_the_client_ip_is_preserved(twin: World, spec: EnvironmentSpec) -> None:
    result = verify(spec=spec)
    assert isinstance(result, VerifyResult)
    assert result.passed
    assert set(result.client_addresses) == {result.bastion_private_ip}
    assert all(check.passed for check in result.checks)
    evidence = artifact("verify-evidence-e2e-k8s-local")
    assert result.bastion_private_ip in evidence and result.token in evidence


def control_plane_stops(twin: World, cluster: str, timeout: float = 30.0) -> bool:
    """Whether the twin stops the cluster's control plane within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while twin.hosts is not None and twin.hosts.host(cluster) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_verify_fails_under_cluster_policy_and_names_node_ips(
    twin: World, spec: EnvironmentSpec
) -> None:
    set_policy(twin, spec, "Cluster")
    deadline = time.monotonic() + 30  # the real controller's switch of the health check
    while health_check(twin, spec) != ("TCP", "traffic-port"):
        assert time.monotonic() < deadline, health_check(twin, spec)
        time.sleep(0.5)
    state = verify(spec=spec, return_state=True)
    assert state.is_failed()
    # The state's message is cut in the middle when long; the exception carries every check.
    failure = str(state.result(raise_on_failure=False))
    assert "client_ip_preserved" in failure
    assert "service_not_drifted" in failure
    nodes = client.CoreV1Api(twin.kube_api(spec.cluster_name)).list_node().items
    node_ips = {n.status.addresses[0].address for n in nodes}
    evidence = artifact("verify-evidence-e2e-k8s-local")
    assert any(ip in evidence for ip in node_ips)


def test_back_to_local_verify_passes_again(twin: World, spec: EnvironmentSpec) -> None:
    set_policy(twin, spec, "Local")
    assert verify(spec=spec).passed


def test_secrets_never_reach_logs_artifacts_or_results(spec: EnvironmentSpec) -> None:
    kubeconfig = yaml.safe_load(Path(kubeconfig_of(spec)).read_text())
    user = kubeconfig["users"][0]["user"]
    key_pem = base64.b64decode(user["client-key-data"]).decode()
    secrets = [
        os.environ["AWS_SECRET_ACCESS_KEY"],
        user["client-key-data"][:40],
        user["client-certificate-data"][:40],
        key_pem.splitlines()[1],  # a line of the private key itself
    ]
    logs = " ".join(log_messages())
    with get_client(sync_client=True) as prefect:
        artifacts = " ".join(str(a.data) for a in prefect.read_artifacts(limit=200))
        runs = prefect.read_flow_runs()
        states = " ".join(
            f"{run.parameters} {run.state.message if run.state else ''}" for run in runs
        )
    assert logs and artifacts and runs
    for secret in secrets:
        assert secret not in logs
        assert secret not in artifacts
        assert secret not in states


def test_teardown_refuses_a_wrong_confirmation(twin: World, spec: EnvironmentSpec) -> None:
    instances = len(live_instances(twin))
    state = teardown(
        spec=spec, confirm_cluster_name="other.k8s.local", require_approval=False, return_state=True
    )
    assert state.is_failed()
    assert len(live_instances(twin)) == instances


def test_teardown_leaves_nothing_and_can_run_again(twin: World, spec: EnvironmentSpec) -> None:
    result = teardown(
        spec=spec,
        confirm_cluster_name=spec.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert result.remaining == {}
    assert live_instances(twin) == []
    assert control_plane_stops(twin, spec.cluster_name)  # its apiserver goes with its instance
    assert load_balancers(twin, spec.cluster_name) == []
    again = teardown(
        spec=spec,
        confirm_cluster_name=spec.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert not any(step.changed for step in again.steps)
