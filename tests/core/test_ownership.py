"""Whose is it: the ownership rules, the state-store decision and teardown's results, as tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# moto hooks into boto3 sessions created after it is imported; a session cached by an earlier
# Stubber test would otherwise send the moto tests' requests to the real endpoint.
import moto  # noqa: F401
import pytest
from botocore.exceptions import ClientError

from kops_nlb.aws.removal.deleting import delete_all
from kops_nlb.core.errors import TransientError
from kops_nlb.core.naming import (
    PROJECT,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
)
from kops_nlb.core.ownership import (
    Resource,
    cluster_tagged,
    left_reason,
    owned_by_project,
    profile_is_ours,
    referencing_permissions,
    sweepable_group,
)
from kops_nlb.core.removal import Failure, TeardownIncomplete, kind_result, raise_if_failed
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.state_store import other_entries, state_store_decision, version_batches
from tasks.bastion import (
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
)
from tasks.network import cluster_network

pytestmark = pytest.mark.usefixtures("no_run_logger")

CLUSTER = "nlb-demo.k8s.local"
OURS = {TAG_MANAGED_BY: PROJECT, TAG_CLUSTER: CLUSTER}
FAST = PollPolicy(initial=0.01, factor=1, cap=0.01)


def client_error(code: str, message: str = "", operation: str = "Delete") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# ---- pure decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "tagged"),
    [
        ({"KubernetesCluster": CLUSTER}, True),
        ({f"kubernetes.io/cluster/{CLUSTER}": "owned"}, True),
        ({f"kubernetes.io/cluster/{CLUSTER}": "shared"}, False),
        ({"KubernetesCluster": CLUSTER, f"kubernetes.io/cluster/{CLUSTER}": "shared"}, False),
        (OURS, True),
        ({TAG_CLUSTER: CLUSTER}, False),
        ({"KubernetesCluster": "other.k8s.local"}, False),
        ({"kubernetes.io/cluster/other.k8s.local": "owned"}, False),
        ({}, False),
    ],
    ids=[
        "kops",
        "ccm-owned",
        "shared",
        "shared-wins",
        "ours",
        "cluster-tag-alone",
        "other-kops",
        "other-ccm",
        "none",
    ],
)
def test_cluster_tagged(tags: dict[str, str], tagged: bool) -> None:
    assert cluster_tagged(tags, CLUSTER) is tagged


@pytest.mark.parametrize(
    ("tags", "owned"),
    [
        (OURS, True),
        ({**OURS, TAG_CLUSTER: "other.k8s.local"}, False),
        ({TAG_MANAGED_BY: "terraform", TAG_CLUSTER: CLUSTER}, False),
        ({TAG_MANAGED_BY: PROJECT}, False),
        ({}, False),
    ],
    ids=["ours", "other-cluster", "other-tool", "no-cluster", "untagged"],
)
def test_owned_by_project(tags: dict[str, str], owned: bool) -> None:
    assert owned_by_project(tags, CLUSTER) is owned


@pytest.mark.parametrize(
    ("profile_tags", "role_is_ours", "ours"),
    [(OURS, False, True), ({}, True, True), ({}, False, False), ({"team": "x"}, False, False)],
    ids=["tagged", "holds-our-role", "neither", "foreign-tags"],
)
def test_profile_is_ours(profile_tags: dict[str, str], role_is_ours: bool, ours: bool) -> None:
    assert profile_is_ours(profile_tags, role_is_ours=role_is_ours, cluster=CLUSTER) is ours


@pytest.mark.parametrize(
    ("permissions", "revoke"),
    [
        (
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
            [],
        ),
        ([{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-self", "UserId": "1"}]}], []),
        (
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    "UserIdGroupPairs": [
                        {"GroupId": "sg-self"},
                        {"GroupId": "sg-elb", "UserId": "1"},
                    ],
                }
            ],
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "UserIdGroupPairs": [{"GroupId": "sg-elb", "UserId": "1"}],
                }
            ],
        ),
    ],
    ids=["cidr-only", "self-only", "other-group-kept-alone"],
)
def test_referencing_permissions(
    permissions: list[dict[str, Any]], revoke: list[dict[str, Any]]
) -> None:
    assert referencing_permissions(permissions, "sg-self") == revoke


@pytest.mark.parametrize(("name", "sweepable"), [("default", False), ("nodes.c", True)])
def test_sweepable_group(name: str, sweepable: bool) -> None:
    assert sweepable_group({"GroupName": name}) is sweepable


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (Resource("vpcs", "vpc-1", {"KubernetesCluster": CLUSTER}), "kops delete cluster deletes"),
        (Resource("iam_roles", f"masters.{CLUSTER}"), "made by kops"),
        (Resource("iam_roles", f"ssm-bastion.{CLUSTER}"), "not made by this project"),
        (Resource("security_groups", "sg-1", {}, "default"), "the VPC's default group"),
        (Resource("volumes", "vol-1", {}, "in-use"), "in-use: only available ones"),
        (Resource("target_groups", "arn:tg"), "still present"),
    ],
    ids=[
        "vpc",
        "kops-role",
        "foreign-role",
        "default-group",
        "attached-volume",
        "other",
    ],
)
def test_left_reason(resource: Resource, reason: str) -> None:
    assert reason in left_reason(resource, CLUSTER)


@pytest.mark.parametrize(
    ("tags", "named", "force", "others", "action"),
    [
        (OURS, False, False, [], "delete"),
        (OURS, True, False, [], "delete"),
        ({}, True, False, [], "left"),
        ({}, True, True, [], "delete"),
        ({}, False, False, [], "refuse"),
        ({}, False, True, [], "refuse"),
        ({**OURS, TAG_CLUSTER: "other.k8s.local"}, True, True, [], "refuse"),
        (OURS, False, False, ["other.k8s.local/"], "left"),
        (OURS, True, True, ["other.k8s.local/"], "delete"),
    ],
    ids=[
        "derived-ours",
        "named-ours",
        "named-theirs",
        "named-theirs-forced",
        "derived-untagged",
        "derived-untagged-forced",
        "other-cluster",
        "shared-content",
        "shared-content-forced",
    ],
)
def test_state_store_decision(
    tags: dict[str, str], named: bool, force: bool, others: list[str], action: str
) -> None:
    decided, reason = state_store_decision(
        tags, cluster=CLUSTER, named_by_user=named, force=force, other_entries=others
    )
    assert decided == action, reason


def test_a_named_bucket_is_left_as_not_ours() -> None:
    assert state_store_decision({}, cluster=CLUSTER, named_by_user=True, force=False)[1].startswith(
        "not created by kops-nlb-flows"
    )


@pytest.mark.parametrize(
    ("keys", "others"),
    [
        ([f"{CLUSTER}/config", f"{CLUSTER}/pki/ca"], []),
        (
            [f"{CLUSTER}/config", "other.k8s.local/config", "notes.txt"],
            ["notes.txt", "other.k8s.local/"],
        ),
        ([], []),
    ],
    ids=["own-only", "others", "empty"],
)
def test_other_entries(keys: list[str], others: list[str]) -> None:
    assert other_entries(keys, CLUSTER) == others


def test_version_batches_of_1000() -> None:
    versions = [{"Key": f"k{i}", "VersionId": f"v{i}", "IsLatest": True} for i in range(2001)]
    batches = version_batches(versions)
    assert [len(b) for b in batches] == [1000, 1000, 1]
    assert batches[2] == [{"Key": "k2000", "VersionId": "v2000"}]
    assert version_batches([]) == []


@pytest.mark.parametrize(
    ("deleted", "gone", "changed", "summary"),
    [
        (["sg-1", "sg-2"], [], True, "deleted 2 security group(s): sg-1, sg-2"),
        (["sg-1"], ["sg-2"], True, "deleted 1 security group(s): sg-1; already gone: sg-2"),
        ([], ["sg-2"], False, "already gone: security group(s) sg-2"),
        ([], [], False, "no security group left"),
    ],
    ids=["deleted", "mixed", "gone", "nothing"],
)
def test_kind_result(deleted: list[str], gone: list[str], changed: bool, summary: str) -> None:
    result = kind_result("sweep-security-groups", "security_groups", deleted, gone)
    assert (result.changed, result.summary) == (changed, summary)


def test_failures_raise_once_naming_each() -> None:
    raise_if_failed("delete x", [])
    failures = [
        Failure("instances", "i-1", "OperationNotPermitted: protected"),
        Failure("iam_roles", "r", "Throttling: slow down", transient=True),
    ]
    with pytest.raises(TeardownIncomplete) as raised:
        raise_if_failed("delete x", failures)
    assert not isinstance(raised.value, TransientError)
    assert str(raised.value) == (
        "Failed to delete x: 2 resource(s) not deleted: instance i-1: OperationNotPermitted: "
        "protected; IAM role r: Throttling: slow down"
    )
    with pytest.raises(TransientError):
        raise_if_failed("delete x", failures[1:])


# ---- delete_all: retries within the deadline ---------------------------------------------


def flaky(errors: list[Exception]) -> Callable[[], None]:
    """A delete that raises the given errors in turn, then succeeds."""
    remaining = list(errors)

    def delete() -> None:
        if remaining:
            raise remaining.pop(0)

    return delete


def test_in_use_is_retried_until_deleted_and_the_rest_classified() -> None:
    in_use = client_error("DependencyViolation", "resource sg-1 has a dependent object")
    deleted, gone, failures = delete_all(
        {
            "sg-1": flaky([in_use, in_use]),
            "sg-2": flaky([client_error("InvalidGroup.NotFound")]),
            "sg-3": flaky([client_error("UnauthorizedOperation", "no")]),
            "sg-4": flaky([]),
        },
        kind="security_groups",
        timeout=5,
        poll=FAST,
    )
    assert (deleted, gone) == (["sg-4", "sg-1"], ["sg-2"])
    assert failures == [Failure("security_groups", "sg-3", "UnauthorizedOperation: no")]


def test_still_in_use_at_the_deadline_is_a_failure() -> None:
    in_use = client_error("DependencyViolation", "resource sg-1 has a dependent object")
    deleted, gone, failures = delete_all(
        {"sg-1": flaky([in_use] * 1000)}, kind="security_groups", timeout=0.05, poll=FAST
    )
    assert (deleted, gone, [f.id for f in failures]) == ([], [], ["sg-1"])
    assert failures[0].reason.startswith(
        "DependencyViolation: resource sg-1 has a dependent object (still after"
    )


def test_in_use_fails_at_once_when_waiting_cannot_help() -> None:
    in_use = client_error("DependencyViolation", "in use")
    _, _, failures = delete_all(
        {"sg-1": flaky([in_use])}, kind="security_groups", timeout=60, poll=FAST, retry_in_use=False
    )
    assert failures == [Failure("security_groups", "sg-1", "DependencyViolation: in use")]


# ---- moto -------------------------------------------------------------------------------


@pytest.fixture
def teardown_moto(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto for the teardown adapters (conftest's `aws` patches every AWS adapter module)."""


@pytest.fixture
def ec2(teardown_moto: None, boto: Callable[[str], Any]) -> Any:
    return boto("ec2")


@pytest.fixture
def bastion(kops_vpc: dict[str, str], ec2: Any, spec: EnvironmentSpec) -> str:
    """The SSM bastion as provision makes it (role, profile, group, instance); its instance id."""
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    ensure_bastion_security_group.fn(spec, network)
    return ensure_bastion_instance.fn(spec, network, "token-1").ids["instance_id"]


# ---- moto: the state store ----------------------------------------------------------------
