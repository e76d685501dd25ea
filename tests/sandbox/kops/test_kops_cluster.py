"""The twin's commands against AWS (moto over HTTP) and the twin's Kubernetes API."""

from __future__ import annotations

import base64
import datetime
import json
import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cryptography import x509
from kops_support import REGION, ZONES, Kops, configure_twin, create_args
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from kops_nlb.core import kops as kops_cli
from sandbox.kops.iam import NLB_ACTIONS_2018
from sandbox.kubelets.instances import InstanceHosts
from sandbox.kubelets.node_objects import CONTROL_PLANE_LABEL as CONTROL_PLANE
from sandbox.kubelets.node_objects import EXCLUDE_LB_LABEL as EXCLUDE_LB


def _tags(item: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def _owned(name: str) -> list[dict[str, object]]:
    return [{"Name": "tag:KubernetesCluster", "Values": [name]}]


def _policy_actions(document: dict) -> set[str]:  # type: ignore[type-arg]
    actions: set[str] = set()
    for statement in document["Statement"]:
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def _bucket_keys(state: str) -> list[str]:
    bucket = state.removeprefix("s3://")
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _booted(machines: InstanceHosts, name: str, timeout: float = 60.0) -> Any:
    """Wait until the cluster's control plane runs and all three Nodes registered; its client."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        host = machines.host(name)
        if host is not None and len(host.agents) == 3:
            core = kube_client.CoreV1Api(host.api)
            mirrors = core.list_namespaced_pod("kube-system").items
            if len(mirrors) == 3 and {p.status.phase for p in mirrors} == {"Running"}:
                return core
        time.sleep(0.2)
    raise AssertionError(f"the control plane of {name} did not boot with its nodes")


def test_cluster_lifecycle(
    kops: Kops,
    machines: InstanceHosts,
    state_store: str,
    cluster_name: str,
    aws_env: dict[str, str],
    twin_config: Path,
    tmp_path: Path,
) -> None:
    name = cluster_name
    configure_twin(twin_config, node_ready=3600.0, flaps=1)
    ec2 = boto3.client("ec2", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)

    # -- create --yes ----------------------------------------------------------------------
    created = kops(
        *create_args(name, state_store, "--cloud-labels", 'team=net,cost="a=b"', "--yes")
    )
    assert created.code == 0, created.err
    assert f"kOps has set your kubectl context to {name}\n" in created.out
    assert "Cluster is starting.  It should be ready in a few minutes." in created.out
    assert "SANDBOX_KUBE_API_URL is not set" not in created.err
    assert _bucket_keys(state_store) == sorted(
        [
            f"{name}/config",
            f"{name}/instancegroup/control-plane-{ZONES[0]}",
            f"{name}/instancegroup/nodes-{ZONES[0]}",
            f"{name}/instancegroup/nodes-{ZONES[1]}",
            f"{name}/pki/private/apiserver-aggregator-ca/keyset.yaml",
            f"{name}/pki/private/kubernetes-ca/keyset.yaml",
            f"{name}/pki/private/service-account/keyset.yaml",
            f"{name}/sandbox-state",
        ]
    )

    vpcs = ec2.describe_vpcs(Filters=_owned(name))["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["127.20.0.0/16"]
    assert _tags(vpcs[0])[f"kubernetes.io/cluster/{name}"] == "owned"
    assert _tags(vpcs[0])["team"] == "net"
    subnets = {_tags(s)["Name"]: s for s in ec2.describe_subnets(Filters=_owned(name))["Subnets"]}
    assert sorted(subnets) == sorted(
        [f"{z}.{name}" for z in ZONES] + [f"utility-{z}.{name}" for z in ZONES]
    )
    private = _tags(subnets[f"{ZONES[0]}.{name}"])
    utility = _tags(subnets[f"utility-{ZONES[1]}.{name}"])
    assert (private["SubnetType"], private["kubernetes.io/role/internal-elb"]) == ("Private", "1")
    assert (utility["SubnetType"], utility["kubernetes.io/role/elb"]) == ("Utility", "1")
    assert utility["KubernetesCluster"] == name
    assert len(ec2.describe_internet_gateways(Filters=_owned(name))["InternetGateways"]) == 1
    groups = ec2.describe_security_groups(Filters=_owned(name))["SecurityGroups"]
    assert sorted(g["GroupName"] for g in groups) == [f"masters.{name}", f"nodes.{name}"]

    masters = iam.get_role_policy(RoleName=f"masters.{name}", PolicyName=f"masters.{name}")
    assert set(NLB_ACTIONS_2018) <= _policy_actions(masters["PolicyDocument"])
    assert len(NLB_ACTIONS_2018) == 14
    nodes_policy = iam.get_role_policy(RoleName=f"nodes.{name}", PolicyName=f"nodes.{name}")
    assert "ec2:DescribeInstances" in _policy_actions(nodes_policy["PolicyDocument"])
    assert not _policy_actions(nodes_policy["PolicyDocument"]) & set(NLB_ACTIONS_2018[1:])
    profile = iam.get_instance_profile(InstanceProfileName=f"nodes.{name}")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"nodes.{name}"]

    reservations = ec2.describe_instances(Filters=_owned(name))["Reservations"]
    instances = {
        _tags(i)["Name"]: i
        for r in reservations
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    }
    assert sorted(instances) == sorted(
        [
            f"control-plane-{ZONES[0]}.masters.{name}",
            f"nodes-{ZONES[0]}.{name}",
            f"nodes-{ZONES[1]}.{name}",
        ]
    )
    control_plane = _tags(instances[f"control-plane-{ZONES[0]}.masters.{name}"])
    node = instances[f"nodes-{ZONES[1]}.{name}"]
    assert control_plane["k8s.io/role/control-plane"] == "1"
    assert control_plane["kops.k8s.io/instancegroup"] == f"control-plane-{ZONES[0]}"
    assert _tags(node)["k8s.io/role/node"] == "1"
    assert _tags(node)["cost"] == "a=b"
    assert node["SubnetId"] == subnets[f"{ZONES[1]}.{name}"]["SubnetId"]
    assert node["PrivateIpAddress"].startswith("127.20.128.")
    assert node["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/nodes.{name}")

    kubeconfig = Path(aws_env["KUBECONFIG"])
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert yaml.safe_load(kubeconfig.read_text())["current-context"] == name

    # -- get, validate ------------------------------------------------------------------------
    got = kops("get", "cluster", name, "--state", state_store, "-o", "json")
    assert got.code == 0
    cluster = json.loads(got.out)
    assert (cluster["kind"], cluster["spec"]["networkCIDR"]) == ("Cluster", "127.20.0.0/16")
    assert cluster["spec"]["cloudLabels"] == {"team": "net", "cost": "a=b"}
    listed = kops("get", "clusters", "--state", state_store)
    assert listed.out == f"NAME\t\t\tCLOUD\tZONES\n{name}\taws\t{','.join(ZONES)}\n"

    # -- Nodes: registered by the kubelets on these instances, NotReady until they boot ------
    core = _booted(machines, name)
    nodes = {
        n["metadata"]["name"]: n
        for n in json.loads(core.list_node(_preload_content=False).data)["items"]
    }
    assert sorted(nodes) == sorted(i["PrivateDnsName"] for i in instances.values())
    by_id = {i["InstanceId"]: i for i in instances.values()}
    for node_name, node_object in nodes.items():
        instance_id = node_object["spec"]["providerID"].rsplit("/", 1)[-1]
        instance = by_id[instance_id]
        zone = instance["Placement"]["AvailabilityZone"]
        labels = node_object["metadata"]["labels"]
        assert node_object["spec"]["providerID"] == f"aws:///{zone}/{instance_id}"
        assert labels["topology.kubernetes.io/zone"] == zone
        assert labels["kubernetes.io/hostname"] == node_name
        assert labels["node.kubernetes.io/instance-type"] == "t3.medium"
        addresses = {a["type"]: a["address"] for a in node_object["status"]["addresses"]}
        assert addresses["InternalIP"] == instance["PrivateIpAddress"]
        ready = [c for c in node_object["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "False"
    planes = [n for n in nodes.values() if CONTROL_PLANE in n["metadata"]["labels"]]
    assert [p["metadata"]["name"] for p in planes] == [
        instances[f"control-plane-{ZONES[0]}.masters.{name}"]["PrivateDnsName"]
    ]
    assert EXCLUDE_LB in planes[0]["metadata"]["labels"]

    args = ["validate", "cluster", "--name", name, "--state", state_store, "-o", "json"]
    validated = kops(*args)
    assert validated.code == 1
    assert validated.err.endswith("Error: validation failed: cluster not yet healthy\n")
    assert not validated.out.endswith("\n")
    report = kops_cli.parse_validation(validated.out)
    assert {f.type for f in report.failures} == {"Node"}
    assert (report.nodes_ready, report.nodes_expected) == (0, 3)
    assert {n.role for n in report.nodes} == {"control-plane", "node"}
    table = kops("validate", "cluster", name, "--state", state_store)
    assert table.out.startswith(f"Validating cluster {name}\n\nINSTANCE GROUPS\n")
    assert table.out.endswith("\nValidation Failed\n")

    # Boot time passes: the kubelets report Ready, and the mirror pods of the control plane run.
    host = machines.host(name)
    assert host is not None
    host.heartbeats.ready_delay = 0.0
    passed = kops(*args, "--wait", "60s", "--interval", "200ms")
    assert passed.code == 0, passed.err
    assert kops_cli.parse_validation(passed.out).ok
    # validate_flaps = 1: the next validation fails once more, then it holds.
    flap = kops(*args)
    assert flap.code == 1
    assert [f.type for f in kops_cli.parse_validation(flap.out).failures] == ["Node"]
    waited = kops(*args, "--wait", "5s", "--interval", "1ms", "--count", "2")
    assert waited.code == 0
    assert waited.out.count("}{") == 1  # two attempts, back to back
    assert kops_cli.parse_validation(waited.out).ok
    table = kops("validate", "cluster", name, "--state", state_store)
    assert table.out.endswith(f"\nYour cluster {name} is ready\n")

    # -- admin kubeconfig: the official client reaches the real apiserver with it ------------
    path = tmp_path / "private" / "admin.yaml"
    exported = kops(
        "export", "kubecfg", name, "--state", state_store, "--admin=1h", "--kubeconfig", str(path)
    )
    assert exported.out == f"kOps has set your kubectl context to {name}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    lifetime = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=55) < lifetime <= datetime.timedelta(hours=1)
    assert "O=system:masters" in certificate.subject.rfc4514_string()
    assert base64.b64decode(user["client-key-data"]).startswith(b"-----BEGIN EC PRIVATE KEY-----")
    api = kube_config.new_client_from_config(config_file=str(path))
    try:
        listed = kube_client.CoreV1Api(api).list_node()
    finally:
        api.close()
    assert sorted(n.metadata.name for n in listed.items) == sorted(nodes)
    # Without --admin or --user kops 1.36 still writes the context, without credentials.
    bare = tmp_path / "bare.yaml"
    assert (
        kops("export", "kubecfg", name, "--state", state_store, "--kubeconfig", str(bare)).code == 0
    )
    assert yaml.safe_load(bare.read_text())["contexts"] == [
        {"name": name, "context": {"cluster": name}}
    ]

    again = kops(*create_args(name, state_store, "--yes"))
    assert again.code == 1
    assert again.err.endswith(
        f"Error: cluster \"{name}\" already exists; use 'kops update cluster' to apply changes\n"
    )
    updated = kops("update", "cluster", name, "--state", state_store, "--yes")
    assert updated.code == 0
    assert "Cluster changes have been applied to the cloud." in updated.out
    assert len(ec2.describe_vpcs(Filters=_owned(name))["Vpcs"]) == 1  # nothing made twice

    # -- delete ------------------------------------------------------------------------------
    # What the cloud controller makes for a Service: found by its tag, deleted with the cluster.
    vpc_id = vpcs[0]["VpcId"]
    nlb = elbv2.create_load_balancer(
        Name="a1b2c3d4e5f60718293a4b5c6d7e8f90",
        Subnets=[subnets[f"{z}.{name}"]["SubnetId"] for z in ZONES],
        Scheme="internal",
        Type="network",
        Tags=[
            {"Key": "KubernetesCluster", "Value": name},
            {"Key": "kubernetes.io/service-name", "Value": "default/nginx"},
        ],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    target_group = elbv2.create_target_group(
        Name="k8s-default-nginx-0123456789", Protocol="TCP", Port=30080, VpcId=vpc_id,
        Tags=[{"Key": "KubernetesCluster", "Value": name}],
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip

    preview = kops("delete", "cluster", name, "--state", state_store)
    assert preview.code == 0
    assert preview.out.startswith("TYPE\t")
    assert preview.out.endswith("\nMust specify --yes to delete cluster\n")
    assert nlb in preview.out and target_group in preview.out

    deleted = kops("delete", "cluster", name, "--state", state_store, "--yes")
    assert deleted.code == 0, deleted.err
    assert f"load-balancer:{nlb}\tok\n" in deleted.out
    assert f"Deleted kubectl config for {name}\n" in deleted.out
    assert deleted.out.endswith(f'\nDeleted cluster: "{name}"\n')
    assert ec2.describe_vpcs(Filters=_owned(name))["Vpcs"] == []
    assert ec2.describe_subnets(Filters=_owned(name))["Subnets"] == []
    assert ec2.describe_security_groups(Filters=_owned(name))["SecurityGroups"] == []
    states = {
        i["State"]["Name"]
        for r in ec2.describe_instances(Filters=_owned(name))["Reservations"]
        for i in r["Instances"]
    }
    assert states == {"terminated"}
    arns = [b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]]
    assert nlb not in arns
    assert target_group not in [
        g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]
    ]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"masters.{name}")
    assert _bucket_keys(state_store) == []
    deadline = time.monotonic() + 30
    while machines.host(name) is not None:  # the control plane goes with its instance
        assert time.monotonic() < deadline
        time.sleep(0.2)

    gone = kops("get", "cluster", name, "--state", state_store, "-o", "json")
    assert (gone.code, gone.err) == (1, f'Error: cluster not found "{name}"\n')
    assert kops_cli.is_cluster_not_found(gone.err, name)


def test_create_without_yes_only_writes_the_spec(
    kops: Kops, state_store: str, cluster_name: str
) -> None:
    created = kops(*create_args(cluster_name, state_store))
    assert created.code == 0
    assert "Must specify --yes to apply changes\n" in created.out
    assert f"kops update cluster --name {cluster_name} --yes --admin" in created.out
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.describe_vpcs(Filters=_owned(cluster_name))["Vpcs"] == []

    # As real kops 1.36.2 (tests/contract/fixtures/validate-cluster-spec-only.json): nothing was
    # applied, so there is no CA to build a client from; no report on stdout.
    validated = kops("validate", "cluster", cluster_name, "--state", state_store, "-o", "json")
    assert (validated.code, validated.out) == (1, "")
    assert validated.err == (
        "Error: validation failed: getting rest config: cannot find CA certificate\n"
    )
    dry = kops("update", "cluster", cluster_name, "--state", state_store)
    assert dry.out == "Must specify --yes to apply changes\n"

    deleted = kops("delete", "cluster", cluster_name, "--state", state_store, "--yes")
    assert deleted.out.startswith("No cloud resources to delete\n")
    assert deleted.out.endswith(f'Deleted cluster: "{cluster_name}"\n')


def test_dry_run_prints_the_spec_and_writes_nothing(
    kops: Kops, state_store: str, cluster_name: str
) -> None:
    dry = kops(*create_args(cluster_name, state_store, "--dry-run", "-o", "yaml"))
    assert dry.code == 0
    documents = list(yaml.safe_load_all(dry.out))
    assert [d["kind"] for d in documents] == [
        "Cluster",
        "InstanceGroup",
        "InstanceGroup",
        "InstanceGroup",
    ]
    assert documents[1]["spec"]["role"] == "Master"
    assert documents[2]["spec"]["rootVolumeSize"] == 20
    assert _bucket_keys(state_store) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network-cidr", "10.0.0.0/16"], "the twin needs loopback addresses"),
        # pflag appends a repeated slice flag: the zones are now a, a and c.
        (["--control-plane-zones", ",".join(ZONES)],
         "specified 3 control-plane zones, but also requested 1 control-plane nodes."),
        (["--networking", "weave"], 'unknown networking mode "weave"'),
        (["--kubernetes-version", "1.30.4", "--yes"], "kubernetes upgrade is required"),
    ],
    ids=["not-loopback", "zones-vs-count", "networking", "old-kubernetes"],
)  # fmt: skip
def test_create_refusals(
    kops: Kops, state_store: str, cluster_name: str, args: list[str], message: str
) -> None:
    result = kops(*create_args(cluster_name, state_store), *args)
    assert result.code == 1
    assert message in result.err.splitlines()[-1]


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "cluster", "--name", "{name}", "-o", "json"],
        ["export", "kubecfg", "{name}", "--admin"],
        ["delete", "cluster", "{name}", "--yes"],
        ["update", "cluster", "{name}", "--yes"],
    ],
    ids=["validate", "export", "delete", "update"],
)
def test_commands_on_a_missing_cluster(
    kops: Kops, state_store: str, cluster_name: str, command: list[str]
) -> None:
    args = [part.format(name=cluster_name) for part in command]
    result = kops(*args, "--state", state_store)
    assert result.code == 1
    assert f'Cluster.kops.k8s.io "{cluster_name}" not found' in result.err
    assert result.err.startswith("Error: ")
    assert kops_cli.is_cluster_not_found(result.err, cluster_name)


def test_a_missing_state_bucket_is_an_error(kops: Kops, cluster_name: str) -> None:
    result = kops(
        "get", "cluster", cluster_name, "--state", "s3://no-such-bucket-kops", "-o", "json"
    )
    assert result.code == 1
    assert "NoSuchBucket" in result.err
    assert not kops_cli.is_cluster_not_found(result.err, cluster_name)


def test_argv_is_logged_when_asked(kops: Kops, tmp_path: Path) -> None:
    log = tmp_path / "argv.jsonl"
    kops("version", "--short", env={"SANDBOX_KOPS_ARGV_LOG": str(log)})
    kops("version", env={"SANDBOX_KOPS_ARGV_LOG": str(log)})
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["version", "--short"],
        ["version"],
    ]
