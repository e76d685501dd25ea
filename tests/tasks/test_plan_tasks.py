"""The plan_* tasks against moto: they read only, and what they say is what ensure_* then does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.naming import TAG_COMPONENT, bastion_role_name
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import (
    ensure_bastion_role,
    ensure_bastion_security_group,
    plan_bastion,
    plan_bastion_role,
)
from tasks.network import cluster_network, find_cluster_network
from tasks.permissions import plan_nlb_permissions
from tasks.state_store import ensure_state_store, plan_state_store
from tests.tasks.test_state_store import queue_reads_of_an_unhardened_bucket

pytestmark = pytest.mark.usefixtures("no_run_logger")

ACCOUNT = "123456789012"


@pytest.fixture
def boto_aws(aws: None, boto: Callable[[str], Any]) -> Callable[[str], Any]:
    """Clients on moto."""
    return boto


def test_state_store_plan_then_apply_agree(
    spec: EnvironmentSpec, boto_aws: Callable[[str], Any]
) -> None:
    s3, bucket = boto_aws("s3"), spec.bucket_for(ACCOUNT)

    assert plan_state_store.fn(spec, ACCOUNT).status == "will create"
    assert s3.list_buckets()["Buckets"] == []  # the plan made nothing
    ensure_state_store.fn(spec, ACCOUNT)
    assert plan_state_store.fn(spec, ACCOUNT).status == "exists"

    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    kept = [t for t in tags if t["Key"] != TAG_COMPONENT]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": kept})
    drift = plan_state_store.fn(spec, ACCOUNT)

    assert (drift.status, [c.field for c in drift.changes]) == (
        "will change",
        [f"tag {TAG_COMPONENT}"],
    )
    repaired = ensure_state_store.fn(spec, ACCOUNT)
    assert repaired.summary == f"bucket {bucket}: tags restored: {TAG_COMPONENT}"
    assert not repaired.created
    assert plan_state_store.fn(spec, ACCOUNT).status == "exists"


def test_state_store_plan_sends_only_reads(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    bucket = spec.bucket_for(ACCOUNT)
    stub = aws_stubs["s3"]
    queue_reads_of_an_unhardened_bucket(stub, bucket)

    item = plan_state_store.fn(spec, ACCOUNT)  # a put_* call would fail: none is queued

    assert [c.field for c in item.changes] == [
        "versioning",
        "public access block",
        "default encryption",
    ]
    assert item.notes == ("not tagged by kops-nlb-flows for this cluster: its tags are left alone",)
    stub.assert_no_pending_responses()


def test_bastion_role_plan_then_apply_agree(
    spec: EnvironmentSpec, boto_aws: Callable[[str], Any]
) -> None:
    iam = boto_aws("iam")
    assert plan_bastion_role.fn(spec).status == "will create"
    assert iam.list_roles()["Roles"] == []

    ensure_bastion_role.fn(spec)

    assert plan_bastion_role.fn(spec).status == "exists"
    iam.detach_role_policy(
        RoleName=bastion_role_name(spec),
        PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    )
    drift = plan_bastion_role.fn(spec)
    assert (drift.status, [c.field for c in drift.changes]) == ("will change", ["managed policy"])


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("cluster_exists", "status"), [(False, "will create"), (True, "blocked")], ids=["new", "known"]
)
def test_bastion_without_the_clusters_vpc(
    spec: EnvironmentSpec, cluster_exists: bool, status: str
) -> None:
    assert find_cluster_network.fn(spec) is None

    items = plan_bastion.fn(spec, None, cluster_exists=cluster_exists)

    assert [(i.step, i.status) for i in items] == [
        ("bastion-security-group", status),
        ("bastion-instance", status),
    ]
    if cluster_exists:
        assert "bastion's place is unknown" in items[0].reason


def test_bastion_in_the_clusters_vpc(
    kops_vpc: dict[str, str], spec: EnvironmentSpec, boto_aws: Callable[[str], Any]
) -> None:
    network = cluster_network.fn(spec)
    assert find_cluster_network.fn(spec) == network

    group, instance = plan_bastion.fn(spec, network, cluster_exists=True)

    assert (group.status, instance.status) == ("will create", "will create")
    placement = next(c.wanted for c in instance.changes if c.field == "placement")
    assert (
        placement.startswith(kops_vpc[f"utility-{spec.region}a"]) and "ap-northeast-1a" in placement
    )
    ensure_bastion_security_group.fn(spec, network)
    assert plan_bastion.fn(spec, network, cluster_exists=True)[0].status == "exists"


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("cluster_exists", "status"), [(False, "will create"), (True, "blocked")], ids=["new", "known"]
)
def test_permissions_before_kops_made_the_role(
    spec: EnvironmentSpec, cluster_exists: bool, status: str
) -> None:
    assert plan_nlb_permissions.fn(spec, cluster_exists=cluster_exists).status == status
