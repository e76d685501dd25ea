"""Teardown: decisions as tables, deletes and sweeps against moto, request batching with Stubber."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

# moto hooks into boto3 sessions created after it is imported; a session cached by an earlier
# Stubber test would otherwise send the moto tests' requests to the real endpoint.
import moto  # noqa: F401
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from kops_nlb.aws.client import aws_client, dict_to_tags
from kops_nlb.aws.errors import delete_outcome
from kops_nlb.aws.removal.inventory import tagged_load_balancers
from kops_nlb.aws.removal.sweep import SWEEP_ORDER
from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import (
    PROJECT,
    TAG_MANAGED_BY,
    bastion_role_name,
    bastion_security_group_name,
)
from kops_nlb.core.removal import TeardownIncomplete
from kops_nlb.core.spec import EnvironmentSpec, Timeouts
from tasks.bastion import (
    delete_bastion,
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
)
from tasks.network import cluster_network
from tasks.state_store import delete_state_store, ensure_state_store
from tasks.sweep import inventory, sweep_cluster_resources
from tests.core.test_ownership import CLUSTER, client_error
from tests.tasks.conftest import AWS_TASK_MODULES

pytestmark = pytest.mark.usefixtures("no_run_logger")

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (client_error("InvalidGroup.NotFound"), "gone"),
        (client_error("InvalidInstanceID.NotFound"), "gone"),
        (client_error("TargetGroupNotFound"), "gone"),
        (client_error("NoSuchEntity"), "gone"),
        (client_error("DependencyViolation", "resource sg-1 has a dependent object"), "retry"),
        (client_error("ResourceInUse"), "retry"),
        # botocore already retried these: one retry layer per call (kops_nlb/aws/errors.py).
        (client_error("RequestLimitExceeded"), "fail"),
        (EndpointConnectionError(endpoint_url="https://ec2"), "fail"),
        (client_error("UnauthorizedOperation"), "fail"),
        (client_error("OperationNotPermitted"), "fail"),
    ],
    ids=[
        "sg-gone",
        "instance-gone",
        "tg-gone",
        "iam-gone",
        "dependency",
        "in-use",
        "throttled-after-botocore",
        "connection-after-botocore",
        "forbidden",
        "protected",
    ],
)
def test_delete_outcome(exc: Exception, outcome: str) -> None:
    assert delete_outcome(exc) == outcome


# ---- delete_all: retries within the deadline ---------------------------------------------


# ---- ELBv2 tags are read 20 ARNs at a time --------------------------------------------------


def test_load_balancer_tags_read_in_batches_of_20(aws_stubs: Any) -> None:
    arns = [
        f"arn:aws:elasticloadbalancing:ap-northeast-1:{ACCOUNT}:loadbalancer/net/a{i}/{i}"
        for i in range(21)
    ]
    elbv2 = aws_stubs["elbv2"]
    elbv2.add_response(
        "describe_load_balancers",
        {
            "LoadBalancers": [
                {"LoadBalancerArn": a, "LoadBalancerName": f"a{i}"} for i, a in enumerate(arns)
            ]
        },
        {},
    )
    tagged = {
        arns[3]: {"KubernetesCluster": CLUSTER},
        arns[20]: {f"kubernetes.io/cluster/{CLUSTER}": "owned"},
    }
    for batch in (arns[:20], arns[20:]):
        elbv2.add_response(
            "describe_tags",
            {
                "TagDescriptions": [
                    {"ResourceArn": a, "Tags": dict_to_tags(tagged.get(a, {"x": "y"}))}
                    for a in batch
                ]
            },
            {"ResourceArns": batch},
        )
    found = tagged_load_balancers(aws_stubs.client("elbv2", "ap-northeast-1"), CLUSTER)
    assert [r.id for r in found] == [arns[3], arns[20]]


# ---- moto -------------------------------------------------------------------------------


@functools.cache
def _cached_client(service: str, region: str) -> Any:
    """kops_nlb.aws.client.aws_client, built once per service (parsing a service model costs ~0.4 s)."""
    return aws_client(service, region)


@pytest.fixture
def teardown_moto(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto for the teardown adapters (conftest's `aws` patches every AWS adapter module)."""


@pytest.fixture
def ec2(teardown_moto: None, boto: Callable[[str], Any]) -> Any:
    return boto("ec2")


@pytest.fixture
def iam(teardown_moto: None, boto: Callable[[str], Any]) -> Any:
    return boto("iam")


@pytest.fixture
def elbv2(teardown_moto: None, boto: Callable[[str], Any]) -> Any:
    return boto("elbv2")


@pytest.fixture
def s3(teardown_moto: None, boto: Callable[[str], Any]) -> Any:
    return boto("s3")


class FailingClient:
    """A client whose named operations raise the given error; everything else goes through."""

    def __init__(self, client: Any, error: ClientError, *operations: str) -> None:
        self._client, self._error, self._operations = client, error, operations

    def __getattr__(self, name: str) -> Any:
        if name in self._operations:

            def fail(**_: Any) -> None:
                raise self._error

            return fail
        return getattr(self._client, name)


def failing(
    monkeypatch: pytest.MonkeyPatch, service: str, error: ClientError, *operations: str
) -> None:
    """Make the teardown tasks' `service` client fail `operations` with `error`."""

    def client(name: str, region: str) -> Any:
        real = _cached_client(name, region)
        return FailingClient(real, error, *operations) if name == service else real

    for module in AWS_TASK_MODULES:
        monkeypatch.setattr(f"{module}.aws_client", client)


def kops_network(kops_vpc: dict[str, str]) -> dict[str, list[str]]:
    """What inventory reports for the kops VPC fixture: the VPC and its four subnets."""
    return {
        "vpcs": [kops_vpc["vpc"]],
        "subnets": sorted(v for k, v in kops_vpc.items() if k != "vpc"),
    }


@pytest.fixture
def bastion(kops_vpc: dict[str, str], ec2: Any, spec: EnvironmentSpec) -> str:
    """The SSM bastion as provision makes it (role, profile, group, instance); its instance id."""
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    ensure_bastion_security_group.fn(spec, network)
    return ensure_bastion_instance.fn(spec, network, "token-1").ids["instance_id"]


def instance_state(ec2: Any, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
        "State"
    ]["Name"]


def group_names(ec2: Any) -> set[str]:
    return {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}


def test_bastion_deleted_then_already_gone(
    bastion: str, ec2: Any, iam: Any, spec: EnvironmentSpec, kops_vpc: dict[str, str]
) -> None:
    first = delete_bastion.fn(spec)

    steps = [
        "bastion-instance",
        "bastion-security-group",
        "bastion-instance-profile",
        "bastion-role",
    ]
    assert [(r.step, r.changed) for r in first] == [(s, True) for s in steps]
    assert first[0].summary == f"deleted 1 instance(s): {bastion}"
    assert instance_state(ec2, bastion) == "terminated"
    assert bastion_security_group_name(spec) not in group_names(ec2)
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []

    second = delete_bastion.fn(spec)

    assert [(r.step, r.changed) for r in second] == [(s, False) for s in steps]
    assert second[0].summary == "no instance left"
    assert second[3].summary == f"already gone: IAM role(s) {bastion_role_name(spec)}"
    assert inventory.fn(spec) == kops_network(kops_vpc)


def test_role_profile_and_group_not_made_by_us_are_left_alone(
    kops_vpc: dict[str, str], ec2: Any, iam: Any, spec: EnvironmentSpec
) -> None:
    name = bastion_role_name(spec)
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "team", "Value": "x"}],
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="theirs", PolicyDocument=json.dumps(policy))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    group_id = ec2.create_security_group(
        GroupName=bastion_security_group_name(spec), Description="theirs", VpcId=kops_vpc["vpc"]
    )["GroupId"]

    results = delete_bastion.fn(spec)

    left = {(r.ids["kind"], r.ids["id"]): r.summary for r in results if r.left}
    not_ours = f"not tagged {TAG_MANAGED_BY}={PROJECT}: not made by this project"
    not_named_ours = "named like the bastion's, not ours"
    assert left == {
        ("security_groups", group_id): f"left security group {group_id}: {not_named_ours}",
        ("instance_profiles", name): f"left instance profile {name}: {not_ours}",
        ("iam_roles", name): f"left IAM role {name}: {not_ours}",
    }
    assert not any(r.changed for r in results)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["theirs"]
    assert [
        r["RoleName"]
        for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    ] == [name]
    assert bastion_security_group_name(spec) in group_names(ec2)


def test_a_failed_termination_is_raised_after_the_rest_was_tried(
    bastion: str, monkeypatch: pytest.MonkeyPatch, iam: Any, spec: EnvironmentSpec
) -> None:
    protected = client_error(
        "OperationNotPermitted", "termination protection is on", "TerminateInstances"
    )
    failing(monkeypatch, "ec2", protected, "terminate_instances")

    with pytest.raises(TeardownIncomplete) as raised:
        delete_bastion.fn(spec)

    assert str(raised.value) == (
        f"Failed to delete the bastion of {spec.cluster_name}: 1 resource(s) not deleted: "
        f"instance {bastion}: OperationNotPermitted: termination protection is on"
    )
    assert iam.list_roles()["Roles"] == []  # the rest was still deleted


@pytest.fixture
def strays(kops_vpc: dict[str, str], ec2: Any, elbv2: Any, spec: EnvironmentSpec) -> dict[str, str]:
    """What the cloud controller and an interrupted `kops delete cluster` leave, plus decoys."""
    cluster = spec.cluster_name
    kops = [{"Key": "KubernetesCluster", "Value": cluster}]
    ccm = [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}]
    subnets = [kops_vpc["private-ap-northeast-1a"], kops_vpc["private-ap-northeast-1c"]]
    ids: dict[str, str] = {}

    nlb = elbv2.create_load_balancer(
        Name="a1b2c3", Subnets=subnets, Type="network", Scheme="internal", Tags=[*kops, *ccm]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name="k8s-default-nginx-0123456789",
        Protocol="TCP",
        Port=30080,
        VpcId=kops_vpc["vpc"],
        Tags=ccm,
    )["TargetGroups"][0]["TargetGroupArn"]
    untagged_tg = elbv2.create_target_group(  # reached only through the NLB's listener
        Name="k8s-default-nginx-untagged", Protocol="TCP", Port=30081, VpcId=kops_vpc["vpc"]
    )["TargetGroups"][0]["TargetGroupArn"]
    for port, group in ((80, tg), (81, untagged_tg)):
        elbv2.create_listener(
            LoadBalancerArn=nlb,
            Protocol="TCP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )
    ids.update(nlb=nlb, tg=tg, untagged_tg=untagged_tg)
    ids["decoy_nlb"] = elbv2.create_load_balancer(
        Name="someone-else", Subnets=subnets, Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]

    def group(name: str, tags: list[dict[str, str]]) -> str:
        spec_ = [{"ResourceType": "security-group", "Tags": tags}] if tags else []
        return str(
            ec2.create_security_group(
                GroupName=name, Description=name, VpcId=kops_vpc["vpc"], TagSpecifications=spec_
            )["GroupId"]
        )

    ids["nodes_sg"] = group(f"nodes.{cluster}", kops)
    ids["elb_sg"] = group("k8s-elb-a1b2c3", ccm)
    ids["decoy_sg"] = group("someone-else", [])
    ids["shared_sg"] = group(
        "shared", [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"}]
    )
    for source, target in ((ids["elb_sg"], ids["nodes_sg"]), (ids["nodes_sg"], ids["elb_sg"])):
        ec2.authorize_security_group_ingress(
            GroupId=target,
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": source}]}],
        )
    network = cluster_network.fn(spec)
    ids["our_sg"] = ensure_bastion_security_group.fn(spec, network).ids["security_group_id"]
    ids["eni"] = ec2.create_network_interface(
        SubnetId=subnets[0], TagSpecifications=[{"ResourceType": "network-interface", "Tags": ccm}]
    )["NetworkInterface"]["NetworkInterfaceId"]
    ids["volume"] = ec2.create_volume(
        AvailabilityZone="ap-northeast-1a",
        Size=20,
        TagSpecifications=[{"ResourceType": "volume", "Tags": kops}],
    )["VolumeId"]
    ids["instance"] = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnets[0],
        TagSpecifications=[{"ResourceType": "instance", "Tags": kops}],
    )["Instances"][0]["InstanceId"]
    return ids


def test_sweep_deletes_in_order_then_reports_only_the_network_left(
    strays: dict[str, str], kops_vpc: dict[str, str], ec2: Any, elbv2: Any, spec: EnvironmentSpec
) -> None:
    before = inventory.fn(spec)
    assert before["load_balancers"] == [strays["nlb"]]
    assert sorted(before["security_groups"]) == sorted(
        [strays["nodes_sg"], strays["elb_sg"], strays["our_sg"]]
    )

    first = sweep_cluster_resources.fn(spec)

    steps = [f"sweep-{kind.replace('_', '-')}" for kind in SWEEP_ORDER]
    assert [r.step for r in first[: len(steps)]] == steps
    by_step = {r.step: r for r in first}
    assert by_step["sweep-load-balancers"].ids == {"deleted": strays["nlb"]}
    assert by_step["sweep-target-groups"].ids == {
        "deleted": ",".join(sorted([strays["tg"], strays["untagged_tg"]]))
    }
    assert by_step["sweep-instances"].ids == {"deleted": strays["instance"]}
    assert by_step["sweep-network-interfaces"].ids == {"deleted": strays["eni"]}
    assert by_step["sweep-volumes"].ids == {"deleted": strays["volume"]}
    assert sorted(by_step["sweep-security-groups"].ids["deleted"].split(",")) == sorted(
        [strays["nodes_sg"], strays["elb_sg"], strays["our_sg"]]
    )
    assert not by_step["sweep-iam"].changed
    left = [r for r in first if r.left]
    left_ids: dict[str, list[str]] = {}
    for r in left:
        left_ids.setdefault(r.ids["kind"], []).append(r.ids["id"])
    assert left_ids == kops_network(kops_vpc)
    assert all("kops delete cluster deletes the cluster's network" in r.summary for r in left)

    assert [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == [
        strays["decoy_nlb"]
    ]
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert instance_state(ec2, strays["instance"]) == "terminated"
    assert group_names(ec2) == {"default", "someone-else", "shared"}
    assert strays["eni"] not in {
        e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
    }
    assert strays["volume"] not in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert inventory.fn(spec) == kops_network(kops_vpc)

    second = sweep_cluster_resources.fn(spec)

    assert [r.changed for r in second] == [False] * len(second)
    assert [r.summary for r in second if r.left] == [r.summary for r in left]

    # What `kops delete cluster` removes on its next run, once the decoy's owner has deleted it
    # (its interfaces hold the subnets, as on AWS); then nothing is left at all.
    elbv2.delete_load_balancer(LoadBalancerArn=strays["decoy_nlb"])
    for key, subnet_id in kops_vpc.items():
        if key != "vpc":
            ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=kops_vpc["vpc"])
    assert inventory.fn(spec) == {}


def test_sweep_reports_a_group_still_in_use_instead_of_raising(
    kops_vpc: dict[str, str], ec2: Any, monkeypatch: pytest.MonkeyPatch, spec: EnvironmentSpec
) -> None:
    kops = [{"Key": "KubernetesCluster", "Value": CLUSTER}]
    group_id = ec2.create_security_group(
        GroupName="nodes",
        Description="n",
        VpcId=kops_vpc["vpc"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": kops}],
    )["GroupId"]
    in_use = client_error("DependencyViolation", f"resource {group_id} has a dependent object")
    failing(monkeypatch, "ec2", in_use, "delete_security_group")
    short = spec.model_copy(update={"timeouts": Timeouts(nlb_active=1)})

    results = sweep_cluster_resources.fn(short)

    left = [r.summary for r in results if r.left and r.ids["kind"] == "security_groups"]
    reason = f"DependencyViolation: resource {group_id} has a dependent object"
    # The sweep's stages share one deadline: how much of it this one had left depends on the clock.
    assert [re.sub(r"still after \d+s", "still after Ns", s) for s in left] == [
        f"left security group {group_id}: {reason} (still after Ns)"
    ]
    assert not next(r for r in results if r.step == "sweep-security-groups").changed


# ---- moto: the state store ----------------------------------------------------------------


def put_versions(s3: Any, bucket: str, cluster: str) -> None:
    """Two versions of the cluster spec, and a deleted object (a version plus a delete marker)."""
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key=f"{cluster}/config", Body=body)
    s3.put_object(Bucket=bucket, Key=f"{cluster}/instancegroup/nodes", Body=b"x")
    s3.delete_object(Bucket=bucket, Key=f"{cluster}/instancegroup/nodes")


def bucket_exists(s3: Any, bucket: str) -> bool:
    return bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_our_versioned_bucket_is_emptied_and_deleted_once(s3: Any, spec: EnvironmentSpec) -> None:
    bucket = ensure_state_store.fn(spec, ACCOUNT).ids["bucket"]
    put_versions(s3, bucket, spec.cluster_name)

    first = delete_state_store.fn(spec, ACCOUNT)
    second = delete_state_store.fn(spec, ACCOUNT)

    assert (first.step, first.changed) == ("state-store", True)
    assert first.summary == (
        f"deleted bucket {bucket} (created by kops-nlb-flows): 3 object version(s), 1 delete marker(s)"
    )
    assert not bucket_exists(s3, bucket)
    assert (second.changed, second.summary) == (False, f"bucket {bucket} already gone")


def test_a_named_bucket_we_did_not_make_needs_force(
    s3: Any, spec: EnvironmentSpec, region: str
) -> None:
    named = spec.model_copy(update={"state_store_bucket": "team-kops-state"})
    s3.create_bucket(
        Bucket="team-kops-state", CreateBucketConfiguration={"LocationConstraint": region}
    )
    s3.put_bucket_versioning(
        Bucket="team-kops-state", VersioningConfiguration={"Status": "Enabled"}
    )
    put_versions(s3, "team-kops-state", spec.cluster_name)

    left = delete_state_store.fn(named, ACCOUNT)

    assert (left.left, left.changed) == (True, False)
    assert left.summary.startswith("left: not created by kops-nlb-flows")
    assert bucket_exists(s3, "team-kops-state")

    forced = delete_state_store.fn(named, ACCOUNT, force=True)

    assert forced.changed and not bucket_exists(s3, "team-kops-state")


def test_an_untagged_bucket_under_the_derived_name_is_refused(
    s3: Any, spec: EnvironmentSpec, region: str
) -> None:
    bucket = spec.bucket_for(ACCOUNT)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    with pytest.raises(ConflictError, match="not tagged by kops-nlb-flows"):
        delete_state_store.fn(spec, ACCOUNT, force=True)
    assert bucket_exists(s3, bucket)


def test_our_bucket_holding_another_clusters_state_is_left(s3: Any, spec: EnvironmentSpec) -> None:
    bucket = ensure_state_store.fn(spec, ACCOUNT).ids["bucket"]
    s3.put_object(Bucket=bucket, Key="other.k8s.local/config", Body=b"x")

    result = delete_state_store.fn(spec, ACCOUNT)

    assert result.left and "other.k8s.local/" in result.summary
    assert bucket_exists(s3, bucket)
