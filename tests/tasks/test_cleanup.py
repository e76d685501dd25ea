"""Cleanup after a failed provision: the plan as tables, the `created` parts tasks report, removals.

The plan reads each step's ``created`` to tell "created" from "found" or "adjusted"; the moto
tests below run the ensure-tasks so that a task that stops reporting what it made fails here."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

# moto hooks into boto3 sessions created after it is imported (see test_teardown.py).
import moto  # noqa: F401
import pytest
from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client
from kops_nlb.core.cleanup import RemovalOutcome as Outcome
from kops_nlb.core.naming import SSM_MANAGED_POLICY_ARN, bastion_role_name
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import (
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
)
from tasks.cleanup import (
    Removal,
    carry_out,
    cleanup_plan,
)
from tasks.network import cluster_network
from tasks.state_store import ensure_state_store
from tests.core.test_cleanup import (
    ACCOUNT,
    NEW,
    SPEC,
    outcome,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")


# ---- the plan -------------------------------------------------------------------------------


# ---- carrying it out ------------------------------------------------------------------------


def test_each_removal_is_tried_and_failures_are_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def handler(result: str) -> Callable[..., list[Outcome]]:
        def handle(_spec: Any, removal: Removal, *_: Any) -> list[Outcome]:
            calls.append(removal.action)
            if result == "raise":
                raise ClientError(
                    {"Error": {"Code": "DependencyViolation", "Message": "in use"}}, "DeleteVpc"
                )
            return [outcome(removal.action, result, removal.target)]

        return handle

    monkeypatch.setattr(
        "tasks.cleanup.HANDLERS",
        {
            "terminate-bastion": handler("removed"),
            "delete-cluster": handler("raise"),
            "sweep": handler("removed"),
            "delete-state-store": handler("removed"),
        },
    )
    plan = cleanup_plan(SPEC, [NEW["state-store"], NEW["cluster"], NEW["bastion-instance"]])

    outcomes = carry_out(SPEC, plan, logging.getLogger("test"))

    assert calls == ["terminate-bastion", "delete-cluster", "sweep"]
    assert [(o.action, o.result) for o in outcomes] == [
        ("terminate-bastion", "removed"),
        ("delete-cluster", "failed"),
        ("sweep", "removed"),
        ("delete-state-store", "skipped"),
    ]
    assert outcomes[1].detail == "DependencyViolation: in use"


# ---- the ledger -----------------------------------------------------------------------------


# ---- the words the tasks write, pinned on moto ---------------------------------------------


@functools.cache
def _cached_client(service: str, region: str) -> Any:
    return aws_client(service, region)


@pytest.fixture
def cleanup_moto(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto for cleanup (conftest's `aws` patches every AWS adapter module)."""


def test_state_store_reports_what_it_created(aws: None, spec: EnvironmentSpec, region: str) -> None:
    assert _created(ensure_state_store.fn(spec, ACCOUNT)) == {"bucket"}
    assert _created(ensure_state_store.fn(spec, ACCOUNT)) == set()

    mine = spec.model_copy(update={"state_store_bucket": "my-own-kops-state"})
    _cached_client("s3", region).create_bucket(
        Bucket="my-own-kops-state", CreateBucketConfiguration={"LocationConstraint": region}
    )
    adjusted = ensure_state_store.fn(mine, ACCOUNT)
    assert adjusted.changed and _created(adjusted) == set()


def test_bastion_role_reports_what_it_created(
    aws: None, spec: EnvironmentSpec, region: str
) -> None:
    name = bastion_role_name(spec)
    assert _created(ensure_bastion_role.fn(spec)) == {"role", "instance-profile"}
    assert _created(ensure_bastion_role.fn(spec)) == set()

    iam = _cached_client("iam", region)
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=name)
    assert _created(ensure_bastion_role.fn(spec)) == {"instance-profile"}

    iam.detach_role_policy(RoleName=name, PolicyArn=SSM_MANAGED_POLICY_ARN)
    repaired = ensure_bastion_role.fn(spec)
    assert repaired.changed and _created(repaired) == set()


def test_bastion_group_and_instance_report_what_they_created(
    kops_vpc: dict[str, str], spec: EnvironmentSpec, region: str
) -> None:
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    group = ensure_bastion_security_group.fn(spec, network)
    assert _created(group) == {"security-group"}
    ec2 = _cached_client("ec2", region)
    ec2.authorize_security_group_ingress(
        GroupId=group.ids["security_group_id"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    revoked = ensure_bastion_security_group.fn(spec, network)
    assert revoked.changed and _created(revoked) == set()

    launched = ensure_bastion_instance.fn(spec, network, "token-1")
    assert _created(launched) == {"instance"}
    ec2.stop_instances(InstanceIds=[launched.ids["instance_id"]])
    started = ensure_bastion_instance.fn(spec, network, "token-2")
    assert started.changed and _created(started) == set()


def test_the_runs_bastion_is_removed_and_the_role_it_found_stays(
    kops_vpc: dict[str, str], cleanup_moto: None, spec: EnvironmentSpec, region: str
) -> None:
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)  # an earlier run's
    found = ensure_bastion_role.fn(spec)
    group = ensure_bastion_security_group.fn(spec, network)
    instance = ensure_bastion_instance.fn(spec, network, "token-1")
    plan = cleanup_plan(spec, [found, group, instance])

    outcomes = carry_out(spec, plan, logging.getLogger("test"))

    assert [(o.action, o.result) for o in outcomes] == [
        ("terminate-bastion", "removed"),
        ("delete-bastion-security-group", "removed"),
    ]
    ec2 = _cached_client("ec2", region)
    [reservation] = ec2.describe_instances(InstanceIds=[instance.ids["instance_id"]])[
        "Reservations"
    ]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [network.vpc_id]}])
    assert group.ids["security_group_id"] not in {g["GroupId"] for g in groups["SecurityGroups"]}
    assert _cached_client("iam", region).get_role(RoleName=bastion_role_name(spec))["Role"]

    again = carry_out(spec, plan, logging.getLogger("test"))

    assert [(o.action, o.result) for o in again] == [
        ("terminate-bastion", "gone"),
        ("delete-bastion-security-group", "gone"),
    ]


def test_the_runs_role_and_profile_are_removed(
    aws: None, cleanup_moto: None, spec: EnvironmentSpec, region: str
) -> None:
    plan = cleanup_plan(spec, [ensure_bastion_role.fn(spec)])

    outcomes = carry_out(spec, plan, logging.getLogger("test"))

    assert [(o.action, o.result) for o in outcomes] == [
        ("delete-bastion-instance-profile", "removed"),
        ("delete-bastion-role", "removed"),
    ]
    iam = _cached_client("iam", region)
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []


def _created(result: StepResult) -> set[str]:
    return set(result.created)
