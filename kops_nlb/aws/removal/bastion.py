"""Removing the SSM bastion: its instances, security group, instance profile and role.

The bastion goes before ``kops delete cluster``: kops does not know about it, and its security
group in the cluster VPC would keep kops from deleting the VPC. Only what carries the project's
tags is deleted; a same-named role or group that does not is reported as left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.aws.errors import aws_failure, delete_outcome, error_reason, is_eventually_consistent
from kops_nlb.aws.iam import delete_profile, delete_role, get_or_none
from kops_nlb.aws.removal.deleting import delete_all, remaining, terminate_and_wait
from kops_nlb.core.errors import aws_error_code
from kops_nlb.core.logs import Logger
from kops_nlb.core.naming import (
    BASTION_COMPONENT,
    PROJECT,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
    bastion_role_name,
    bastion_security_group_name,
)
from kops_nlb.core.ownership import bastion_instance_filters, owned_by_project, profile_is_ours
from kops_nlb.core.removal import Failure, kind_result, left_result, raise_if_failed
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec


def _bastion_groups(ec2: Any, spec: EnvironmentSpec) -> tuple[list[str], list[str]]:
    """Return (ids of our bastion groups, ids of same-named groups not tagged ours)."""
    cluster = spec.cluster_name
    ours = [
        {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        {"Name": f"tag:{TAG_COMPONENT}", "Values": [BASTION_COMPONENT]},
    ]
    named = [{"Name": "group-name", "Values": [bastion_security_group_name(spec)]}]
    tagged = paginate(ec2, "describe_security_groups", "SecurityGroups", Filters=ours)
    same_name = paginate(ec2, "describe_security_groups", "SecurityGroups", Filters=named)
    our_ids = sorted({g["GroupId"] for g in tagged})
    foreign = sorted(
        g["GroupId"]
        for g in same_name
        if g["GroupId"] not in our_ids
        and not owned_by_project(tags_to_dict(g.get("Tags")), cluster)
    )
    return our_ids, foreign


def _iam_step(
    step: str, kind: str, name: str, *, found: bool, ours: bool, delete: Callable[[], None]
) -> tuple[StepResult, Failure | None]:
    if not found:
        return kind_result(step, kind, [], [name]), None
    if not ours:
        reason = f"not tagged {TAG_MANAGED_BY}={PROJECT}: not made by this project"
        return left_result(kind, name, reason), None
    try:
        delete()
    except ClientError as e:
        if delete_outcome(e) == "gone":
            return kind_result(step, kind, [], [name]), None
        failure = Failure(kind, name, error_reason(e), is_eventually_consistent(e))
        return StepResult(step=step, changed=False, summary=f"failed: {failure}"), failure
    return kind_result(step, kind, [name], []), None


def delete_bastion_iam(iam: Any, spec: EnvironmentSpec) -> tuple[list[StepResult], list[Failure]]:
    """Delete the bastion's instance profile and role when ours; report them left when not.

    The role is ours when it carries the project's tags; the profile when it does, or when it
    holds our role. Returns the results and the failures (the caller decides whether to raise).
    """
    name = bastion_role_name(spec)
    cluster = spec.cluster_name
    try:
        role = get_or_none(iam.get_role, "Role", RoleName=name)
        profile = get_or_none(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    except ClientError as e:
        return [], [Failure("iam_roles", name, error_reason(e), is_eventually_consistent(e))]
    role_ours = role is not None and owned_by_project(tags_to_dict(role.get("Tags")), cluster)
    profile_tags = tags_to_dict((profile or {}).get("Tags"))
    profile_roles = [r["RoleName"] for r in (profile or {}).get("Roles", [])]
    outcomes = [
        _iam_step(
            "bastion-instance-profile",
            "instance_profiles",
            name,
            found=profile is not None,
            ours=profile_is_ours(profile_tags, role_is_ours=role_ours, cluster=cluster),
            delete=partial(delete_profile, iam, name, profile_roles),
        ),
        _iam_step(
            "bastion-role",
            "iam_roles",
            name,
            found=role is not None,
            ours=role_ours,
            delete=partial(delete_role, iam, name),
        ),
    ]
    return [r for r, _ in outcomes], [f for _, f in outcomes if f is not None]


def remove_bastion(spec: EnvironmentSpec, logger: Logger) -> list[StepResult]:
    """Delete the bastion's instances, group, profile and role; raise once for what failed."""
    ec2 = aws_client("ec2", spec.region)
    deadline = time.monotonic() + spec.timeouts.bastion_online
    cluster = spec.cluster_name
    try:
        reservations = paginate(
            ec2, "describe_instances", "Reservations", Filters=bastion_instance_filters(cluster)
        )
        instances = {
            i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]
        }
    except ClientError as e:
        raise aws_failure(f"look up the bastion of {cluster}", e) from e
    terminated, gone, failures = terminate_and_wait(
        ec2, instances, timeout=remaining(deadline), poll=spec.poll, logger=logger
    )
    results = [kind_result("bastion-instance", "instances", terminated, gone)]
    try:
        groups, foreign = _bastion_groups(ec2, spec)
    except ClientError as e:
        raise aws_failure(f"look up the bastion security group of {cluster}", e) from e
    deleted, gone, group_failures = delete_all(
        {g: partial(ec2.delete_security_group, GroupId=g) for g in groups},
        kind="security_groups",
        timeout=remaining(deadline),
        poll=spec.poll,
        logger=logger,
        retry_in_use=not failures,  # an instance still holding it: waiting cannot help
    )
    results.append(kind_result("bastion-security-group", "security_groups", deleted, gone))
    results += [
        left_result("security_groups", g, "named like the bastion's, not ours") for g in foreign
    ]
    iam_results, iam_failures = delete_bastion_iam(aws_client("iam", spec.region), spec)
    results += iam_results
    failures += group_failures + iam_failures
    for result in results:
        logger.info("%s: %s", result.step, result.summary)
    raise_if_failed(f"delete the bastion of {cluster}", failures)
    return results


# ---- single parts, for cleanup after a failed provision -------------------------------------


def terminate_bastion_instance(
    spec: EnvironmentSpec, instance_id: str, logger: Logger
) -> tuple[str, str]:
    """Terminate one instance and wait; return (removed|gone|failed, detail)."""
    ec2 = aws_client("ec2", spec.region)
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as e:
        if aws_error_code(e) == "InvalidInstanceID.NotFound":
            return "gone", "instance already gone"
        raise
    states = {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}
    if states.get(instance_id, "terminated") == "terminated":
        return "gone", "instance already terminated"
    terminated, _gone, failures = terminate_and_wait(
        ec2, states, timeout=spec.timeouts.bastion_online, poll=spec.poll, logger=logger
    )
    if failures:
        return "failed", "; ".join(f.reason for f in failures)
    if terminated:
        return "removed", "terminated"
    return "gone", "was already shutting down; now terminated"


def delete_bastion_security_group(
    spec: EnvironmentSpec, group_id: str, *, retry_in_use: bool, logger: Logger
) -> tuple[str, str]:
    """Delete one security group, waiting while it is in use; return (result, detail)."""
    ec2 = aws_client("ec2", spec.region)
    deleted, _gone, failures = delete_all(
        {group_id: partial(ec2.delete_security_group, GroupId=group_id)},
        kind="security_groups",
        timeout=spec.timeouts.bastion_online,
        poll=spec.poll,
        logger=logger,
        retry_in_use=retry_in_use,
    )
    if failures:
        return "failed", "; ".join(f.reason for f in failures)
    return ("removed", "deleted") if deleted else ("gone", "already gone")


def delete_instance_profile_named(region: str, name: str) -> bool:
    """Delete an instance profile (its roles removed first); False when it is gone."""
    iam = aws_client("iam", region)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        delete_profile(iam, name, [r["RoleName"] for r in profile.get("Roles", [])])
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return False
        raise
    return True


def delete_role_named(region: str, name: str) -> bool:
    """Delete a role (its policies detached first); False when it is gone."""
    try:
        delete_role(aws_client("iam", region), name)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return False
        raise
    return True
