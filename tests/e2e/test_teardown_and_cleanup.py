"""Cleanup after a failed provision, reuse of what a failed run left, and teardown's sweep, on the twin.

One environment of its own (``cleanup.k8s.local``, never the lifecycle's) goes through, in order:
a provision that fails after its bastion exists, with cleanup on (nothing is left), the same
failure with cleanup off (everything is left), a fixed provision that reuses it, a teardown that
is not approved, and a teardown that also sweeps load balancers and a group left behind.

The failure: the nodes cannot pull the nginx image (the twin's container runtime refuses it, as
a registry without the tag would), so the Deployment never becomes ready.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from prefect.flow_runs import resume_flow_run

from flows.provision import provision
from flows.teardown import TeardownResult, teardown
from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.world import World
from tasks.sweep import inventory
from tests.e2e.prefect_runs import artifact, paused_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

CLUSTER = "cleanup.k8s.local"
# Not the default namespace: the sweep finds the Service where the spec put it.
NAMESPACE = "cleanup"
UNPULLABLE_IMAGE = "registry.invalid/nginx:no-such-tag"


def aws(service: str, world: World) -> Any:
    session: Any = boto3.session.Session(region_name=world.config.region)
    return session.client(service, endpoint_url=world.aws.url)


def kops_commands(world: World, verb: str) -> int:
    log = Path(world.home) / "kops-argv.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if json.loads(line)[:2] == [verb, "cluster"])


def bucket_exists(world: World, spec: EnvironmentSpec) -> bool:
    account = aws("sts", world).get_caller_identity()["Account"]
    try:
        aws("s3", world).head_bucket(Bucket=spec.bucket_for(account))
    except ClientError:
        return False
    return True


def bastions(world: World, *states: str) -> list[str]:
    reservations = aws("ec2", world).describe_instances(
        Filters=[
            {"Name": "tag:kops-nlb-flows/cluster", "Values": [CLUSTER]},
            {"Name": "tag:kops-nlb-flows/component", "Values": ["bastion"]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )["Reservations"]
    return sorted(i["InstanceId"] for r in reservations for i in r["Instances"])


@pytest.fixture(scope="module")
def fixed(spec: EnvironmentSpec, twin: World) -> EnvironmentSpec:
    """This file's environment, as it should be."""
    return spec.model_copy(
        update={
            "cluster_name": CLUSTER,
            "namespace": NAMESPACE,
        }
    )


@pytest.fixture(scope="module")
def broken(fixed: EnvironmentSpec) -> EnvironmentSpec:
    """The same environment with an image the nodes cannot pull, and a short wait for nginx."""
    timeouts = fixed.timeouts.model_copy(update={"deployment_ready": 2})
    return fixed.model_copy(update={"nginx_image": UNPULLABLE_IMAGE, "timeouts": timeouts})


@pytest.fixture
def unpullable_image(twin: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin's nodes cannot pull UNPULLABLE_IMAGE: its pods stay ContainerCreating."""
    start = twin.pods.start

    def start_unless_unpullable(
        pod: dict[str, Any], files: Mapping[str, bytes] | None = None
    ) -> bool:
        images = {c.get("image") for c in pod.get("spec", {}).get("containers", [])}
        return False if UNPULLABLE_IMAGE in images else start(pod, files)

    monkeypatch.setattr(twin.pods, "start", start_unless_unpullable)


@pytest.mark.usefixtures("unpullable_image")
def test_failed_provision_with_cleanup_removes_what_it_made(
    twin: World, broken: EnvironmentSpec
) -> None:
    creates, deletes = kops_commands(twin, "create"), kops_commands(twin, "delete")

    state = provision(spec=broken, cleanup_on_failure=True, return_state=True)

    assert state.is_failed()
    with pytest.raises(WaitTimeout, match=f"deployment {NAMESPACE}/nginx"):
        state.result()
    assert f"deployment {NAMESPACE}/nginx: not ready" in (state.message or "")
    assert inventory.fn(broken) == {}
    assert not bucket_exists(twin, broken)
    assert (kops_commands(twin, "create"), kops_commands(twin, "delete")) == (
        creates + 1,
        deletes + 1,
    )
    [bastion] = bastions(twin, "terminated")
    report = artifact("provision-cleanup-cleanup-k8s-local")
    for removed in (
        f"terminate-bastion `{bastion}`",
        "delete-bastion-security-group",
        f"delete-bastion-role `ssm-bastion.{CLUSTER}`",
        f"delete-service `{NAMESPACE}/nginx`",
        f"delete-deployment `{NAMESPACE}/nginx`",
        f"delete-namespace `{NAMESPACE}`",
        f"delete-cluster `{CLUSTER}`",
        "delete-state-store",
    ):
        assert removed in report
    assert "## Could not remove\n\n- nothing" in report
    assert "nlb-permissions: found in place" in report  # kops grants them: nothing was added


@pytest.fixture(scope="module")
def left_behind() -> dict[str, Any]:
    """What the failed run without cleanup left, for the tests after it."""
    return {}


@pytest.mark.usefixtures("unpullable_image")
def test_failed_provision_without_cleanup_leaves_what_it_made(
    twin: World, broken: EnvironmentSpec, left_behind: dict[str, Any]
) -> None:
    deletes = kops_commands(twin, "delete")

    state = provision(spec=broken, return_state=True)

    assert state.is_failed()
    assert f"deployment {NAMESPACE}/nginx: not ready" in (state.message or "")
    left = inventory.fn(broken)
    [bastion] = bastions(twin, "pending", "running")
    assert bastion in left["instances"]
    assert len(left["instances"]) == 1 + 2 + 1  # control plane, nodes, bastion
    assert len(left["load_balancers"]) == 2  # the API's and the Service's
    assert f"ssm-bastion.{CLUSTER}" in left["iam_roles"]
    assert bucket_exists(twin, broken)
    assert kops_commands(twin, "delete") == deletes
    left_behind.update(inventory=left, bastion=bastion)


@pytest.mark.usefixtures("unpullable_image")
def test_fixed_provision_reuses_what_the_failed_run_left(
    twin: World, fixed: EnvironmentSpec, left_behind: dict[str, Any]
) -> None:
    creates = kops_commands(twin, "create")

    result = provision(spec=fixed, cleanup_on_failure=True)

    assert result.bastion_instance_id == left_behind["bastion"]
    assert [s.step for s in result.steps if s.changed] == ["nginx"]  # the image, patched
    assert kops_commands(twin, "create") == creates
    assert inventory.fn(fixed) == left_behind["inventory"]


def test_teardown_not_approved_deletes_nothing(twin: World, fixed: EnvironmentSpec) -> None:
    before = inventory.fn(fixed)
    outcome: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            result=teardown(spec=fixed, confirm_cluster_name=CLUSTER, require_approval=True)
        ),
        daemon=True,  # never keeps the session alive if the run is not resumed
    )
    runner.start()
    resume_flow_run(paused_run(), run_input={"approve": False})
    runner.join(timeout=60)

    result = outcome["result"]
    assert isinstance(result, TeardownResult)
    assert (result.approved, result.steps) == (False, [])
    assert inventory.fn(fixed) == before


@pytest.fixture
def strays(twin: World, fixed: EnvironmentSpec) -> Iterator[dict[str, str]]:
    """An NLB and target group of a Service that vanished, and a group, tagged for the cluster.

    Tagged the way the cloud controller tags what it makes for a Service; made by hand, so no
    Service's finalizer will ever delete them.
    """
    ec2, elbv2 = aws("ec2", twin), aws("elbv2", twin)
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:KubernetesCluster", "Values": [CLUSTER]}])[
        "Vpcs"
    ]
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "tag:SubnetType", "Values": ["Private"]},
        ]
    )["Subnets"]
    owned = {f"kubernetes.io/cluster/{CLUSTER}": "owned", "KubernetesCluster": CLUSTER}
    tags = [
        {"Key": k, "Value": v}
        for k, v in {**owned, "kubernetes.io/service-name": f"{NAMESPACE}/ghost"}.items()
    ]
    lb = elbv2.create_load_balancer(
        Name="a" + uuid.uuid4().hex[:31],
        Type="network",
        Scheme="internal",
        Subnets=[s["SubnetId"] for s in subnets],
        Tags=tags,
    )["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(
        Name="k8s-cleanup-ghost-" + uuid.uuid4().hex[:10],
        Protocol="TCP",
        Port=31380,
        VpcId=vpc["VpcId"],
        TargetType="instance",
        Tags=tags,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    security_group = ec2.create_security_group(
        GroupName="k8s-elb-ghost",
        Description="left behind by a vanished Service",
        VpcId=vpc["VpcId"],
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}],
            }
        ],
    )["GroupId"]
    yield {"load_balancer": lb, "target_group": group, "security_group": security_group}


def test_teardown_sweeps_what_was_left_behind(
    twin: World, fixed: EnvironmentSpec, strays: dict[str, str]
) -> None:
    found = inventory.fn(fixed)
    assert strays["load_balancer"] in found["load_balancers"]
    assert strays["target_group"] in found["target_groups"]
    assert strays["security_group"] in found["security_groups"]

    result = teardown(
        spec=fixed,
        confirm_cluster_name=CLUSTER,
        require_approval=False,
        delete_state_bucket=True,
    )

    assert result.remaining == {}
    assert inventory.fn(fixed) == {}
    assert not bucket_exists(twin, fixed)
    assert bastions(twin, "pending", "running", "stopping", "stopped") == []
    elbv2 = aws("elbv2", twin)
    arns = {lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert strays["load_balancer"] not in arns
