"""resilience on the twin: a pod and a node lost under a steady stream, measured and restored.

The twin's health checks run on a clock where 10 s last 0.2 s; the reroute time comes from the
target group's interval and thresholds, so changing them changes what the flow measures.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kubernetes import client, config

from flows.provision import provision
from flows.resilience import ResilienceResult, resilience
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import worker
from sandbox.world import World
from tests.e2e.environments import torn_down
from tests.e2e.prefect_runs import artifact

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

STREAM = {"rate_per_s": 10, "duration_s": 12, "pod_loss_after_s": 3.0, "node_loss_after_s": 7.0}
# A node loss alone: how long the lost node keeps getting traffic is the target group's doing.
NODE_LOSS_ONLY = {
    "rate_per_s": 10,
    "duration_s": 16,
    "pod_loss": False,
    "node_loss": True,
    "node_loss_after_s": 4.0,
}


@pytest.fixture(scope="module")
def environment(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """A provisioned environment of its own, torn down after the module."""
    own = spec.model_copy(update={"cluster_name": "resil.k8s.local"})
    with torn_down(own):
        provision(spec=own)
        yield own


def aws(service: str, world: World) -> Any:
    return boto3.client(service, endpoint_url=world.aws.url, region_name=world.config.region)


def instance_states(world: World, cluster: str = "resil.k8s.local") -> dict[str, str]:
    """The state of every instance of this environment not terminated (other tests' clusters
    share the twin)."""
    reservations = aws("ec2", world).describe_instances(
        Filters=[{"Name": "tag-value", "Values": [cluster]}]
    )["Reservations"]
    return {
        i["InstanceId"]: i["State"]["Name"]
        for r in reservations
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    }


def service_target_group(world: World, spec: EnvironmentSpec) -> str:
    """The target group of the Service's NLB (kops has groups of its own: the API's, its
    controller's)."""
    api = config.new_client_from_config(config_file=str(worker.kubeconfig_file(spec.cluster_name)))
    service = client.CoreV1Api(api).read_namespaced_service(spec.service_name, spec.namespace)
    hostname = service.status.load_balancer.ingress[0].hostname
    elbv2 = aws("elbv2", world)
    (lb,) = [
        b for b in elbv2.describe_load_balancers()["LoadBalancers"] if b["DNSName"] == hostname
    ]
    (group,) = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    return str(group["TargetGroupArn"])


def scale_nginx(spec: EnvironmentSpec, replicas: int) -> None:
    api = config.new_client_from_config(config_file=str(worker.kubeconfig_file(spec.cluster_name)))
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        spec.deployment_name, spec.namespace, {"spec": {"replicas": replicas}}
    )


def node_loss(result: ResilienceResult) -> Any:
    (event,) = [e for e in result.events if e.kind == "node"]
    return event


def test_pod_and_node_loss_are_measured_and_the_client_address_kept(
    twin: World, environment: EnvironmentSpec
) -> None:
    result = resilience(spec=environment, node_loss=True, max_recovery_s=10.0, **STREAM)

    assert result.passed and result.client_address_preserved
    assert [e.kind for e in result.events] == ["pod", "node"]
    for event in result.events:
        assert event.requests > 0
        assert event.recovery_s is not None and event.recovery_s <= 10.0
    # How many requests the lost node still got depends on a race at the default thresholds (its
    # pods stop when the twin next looks at the instances, within half a second, while its checks
    # fail within 0.4 s); the thresholds' effect is measured below with a wide margin.
    assert any(note.startswith("started instance") for note in result.restored)
    assert set(instance_states(twin).values()) == {"running"}

    report = artifact("resilience-resil-k8s-local")
    assert "Client address preserved" in report
    assert "| node lost:" in report and "| pod lost:" in report
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", report)
    assert png is not None and base64.b64decode(png[1]).startswith(b"\x89PNG")


def test_the_target_groups_thresholds_set_the_reroute_time(
    twin: World, environment: EnvironmentSpec
) -> None:
    elbv2 = aws("elbv2", twin)
    group = service_target_group(twin, environment)
    quick = resilience(spec=environment, max_recovery_s=20.0, **NODE_LOSS_ONLY)
    # Ten failed checks 30 s apart instead of two 10 s apart: 300 s of AWS time (6 s here) instead
    # of 20 s (0.4 s) before the lost node stops getting traffic.
    elbv2.modify_target_group(
        TargetGroupArn=group, UnhealthyThresholdCount=10, HealthCheckIntervalSeconds=30
    )
    try:
        slow = resilience(spec=environment, max_recovery_s=20.0, **NODE_LOSS_ONLY)
    finally:
        elbv2.modify_target_group(
            TargetGroupArn=group, UnhealthyThresholdCount=2, HealthCheckIntervalSeconds=10
        )

    quick_s, slow_s = node_loss(quick).recovery_s, node_loss(slow).recovery_s
    assert quick_s is not None and slow_s is not None
    # The slow detection is 5.6 s longer; DNS and the twin's passes add up to about a second
    # to both, so a margin of half the difference is asserted.
    assert slow_s > quick_s + 2.8, (quick_s, slow_s)
    assert node_loss(slow).failed > node_loss(quick).failed


def test_with_one_replica_losing_its_node_is_an_outage_reported_as_such(
    twin: World, environment: EnvironmentSpec
) -> None:
    scale_nginx(environment, 1)
    try:
        state = resilience(
            spec=environment.model_copy(update={"nginx_replicas": 1}),
            node_loss=True,
            max_recovery_s=10.0,
            return_state=True,
            **STREAM,
        )
    finally:
        scale_nginx(environment, environment.nginx_replicas)

    assert state.is_failed()
    assert "node loss" in str(state.message) and "still failed" in str(state.message)
    report = artifact("resilience-resil-k8s-local")
    assert "did NOT hold up" in report and "not recovered" in report
    assert "started instance" in report  # restored even though the run failed
    assert set(instance_states(twin).values()) == {"running"}
