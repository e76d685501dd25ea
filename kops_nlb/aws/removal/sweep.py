"""The sweep after ``kops delete cluster``: delete what is still tagged for the cluster.

Order (SWEEP_ORDER): load balancers (listeners first), their and other tagged target groups,
instances, available network interfaces and volumes, security groups (references to other
groups revoked first), the project's own IAM role and profile. Whatever could not be deleted,
and whatever is still tagged afterwards (the VPC, subnets, kops's roles), is reported as left
with the reason; nothing is raised for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.aws.elbv2 import delete_load_balancer, target_groups_of
from kops_nlb.aws.errors import aws_failure, delete_outcome, error_reason, is_eventually_consistent
from kops_nlb.aws.removal.bastion import delete_bastion_iam
from kops_nlb.aws.removal.deleting import delete_all, remaining, terminate_and_wait
from kops_nlb.aws.removal.inventory import (
    ec2_resources,
    survey,
    tagged_instances,
    tagged_load_balancers,
    tagged_target_groups,
)
from kops_nlb.core.errors import aws_error_code
from kops_nlb.core.logs import Logger
from kops_nlb.core.ownership import NOUNS, left_reason, referencing_permissions, sweepable_group
from kops_nlb.core.removal import Failure, kind_result, left_result
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy


def _revoke_references(ec2: Any, group_ids: Sequence[str]) -> list[Failure]:
    if not group_ids:
        return []
    failures: list[Failure] = []
    groups = paginate(ec2, "describe_security_groups", "SecurityGroups", GroupIds=list(group_ids))
    for group in groups:
        gid = group["GroupId"]
        for permissions, revoke in (
            (group.get("IpPermissions", []), ec2.revoke_security_group_ingress),
            (group.get("IpPermissionsEgress", []), ec2.revoke_security_group_egress),
        ):
            rules = referencing_permissions(permissions, gid)
            if not rules:
                continue
            try:
                revoke(GroupId=gid, IpPermissions=rules)
            except ClientError as e:
                if (
                    delete_outcome(e) != "gone"
                    and aws_error_code(e) != "InvalidPermission.NotFound"
                ):
                    failures.append(
                        Failure(
                            "security_groups", gid, error_reason(e), is_eventually_consistent(e)
                        )
                    )
    return failures


Deletion = tuple[list[str], list[str], list[Failure]]


@dataclass
class _Sweep:
    """What every sweep stage needs: clients, the cluster, one deadline for the whole sweep."""

    ec2: Any
    elbv2: Any
    cluster: str
    deadline: float
    poll: PollPolicy
    logger: Logger
    lb_target_groups: list[str] = field(default_factory=list)

    def delete(self, kind: str, deletes: Mapping[str, Callable[[], object]]) -> Deletion:
        return delete_all(
            deletes,
            kind=kind,
            timeout=remaining(self.deadline),
            poll=self.poll,
            logger=self.logger,
        )


def _sweep_load_balancers(s: _Sweep) -> Deletion:
    arns = [r.id for r in tagged_load_balancers(s.elbv2, s.cluster)]
    s.lb_target_groups = [
        g["TargetGroupArn"] for g in target_groups_of(s.elbv2, arns)
    ]  # gone with the LB: read them first
    return s.delete("load_balancers", {a: partial(delete_load_balancer, s.elbv2, a) for a in arns})


def _sweep_target_groups(s: _Sweep) -> Deletion:
    tagged = [r.id for r in tagged_target_groups(s.elbv2, s.cluster)]
    arns = sorted({*s.lb_target_groups, *tagged})
    return s.delete(
        "target_groups", {a: partial(s.elbv2.delete_target_group, TargetGroupArn=a) for a in arns}
    )


def _sweep_instances(s: _Sweep) -> Deletion:
    instances = {r.id: r.detail for r in tagged_instances(s.ec2, s.cluster)}
    return terminate_and_wait(
        s.ec2, instances, timeout=remaining(s.deadline), poll=s.poll, logger=s.logger
    )


_AVAILABLE = ({"Name": "status", "Values": ["available"]},)


def _sweep_network_interfaces(s: _Sweep) -> Deletion:
    ids = [r.id for r in ec2_resources(s.ec2, s.cluster, "network_interfaces", _AVAILABLE)]
    return s.delete(
        "network_interfaces",
        {i: partial(s.ec2.delete_network_interface, NetworkInterfaceId=i) for i in ids},
    )


def _sweep_volumes(s: _Sweep) -> Deletion:
    ids = [r.id for r in ec2_resources(s.ec2, s.cluster, "volumes", _AVAILABLE)]
    return s.delete("volumes", {v: partial(s.ec2.delete_volume, VolumeId=v) for v in ids})


def _sweep_security_groups(s: _Sweep) -> Deletion:
    groups = ec2_resources(s.ec2, s.cluster, "security_groups")
    ids = [r.id for r in groups if sweepable_group({"GroupName": r.detail})]
    revoke_failures = _revoke_references(s.ec2, ids)
    deleted, gone, failures = s.delete(
        "security_groups", {g: partial(s.ec2.delete_security_group, GroupId=g) for g in ids}
    )
    return deleted, gone, revoke_failures + failures


# Dependency order. Instances go before interfaces and volumes because terminating an instance is
# what detaches (makes "available") the ones it held; groups go last, once nothing uses them.
_SWEEP_STAGES: dict[str, Callable[[_Sweep], Deletion]] = {
    "load_balancers": _sweep_load_balancers,
    "target_groups": _sweep_target_groups,
    "instances": _sweep_instances,
    "network_interfaces": _sweep_network_interfaces,
    "volumes": _sweep_volumes,
    "security_groups": _sweep_security_groups,
}


SWEEP_ORDER = (*_SWEEP_STAGES, "iam")


def _sweep_iam(iam: Any, spec: EnvironmentSpec) -> tuple[list[StepResult], list[Failure]]:
    results, failures = delete_bastion_iam(iam, spec)
    changed = [r.summary for r in results if r.changed]
    step = StepResult(
        step="sweep-iam",
        changed=bool(changed),
        summary="; ".join(changed) or "no IAM role or instance profile of ours left",
    )
    return [step, *(r for r in results if r.left)], failures


def _left_results(
    spec: EnvironmentSpec, results: Sequence[StepResult], failures: Sequence[Failure]
) -> list[StepResult]:
    reported = {(r.ids.get("kind"), r.ids.get("id")) for r in results if r.left}
    left: list[StepResult] = []
    for failure in failures:
        if (failure.kind, failure.id) not in reported:
            reported.add((failure.kind, failure.id))
            left.append(left_result(failure.kind, failure.id, failure.reason))
    for kind, resources in survey(spec).items():
        for resource in resources:
            if (kind, resource.id) not in reported:
                reported.add((kind, resource.id))
                left.append(
                    left_result(kind, resource.id, left_reason(resource, spec.cluster_name))
                )
    return left


def sweep(spec: EnvironmentSpec, logger: Logger) -> list[StepResult]:
    """Delete what is still tagged for the cluster, in SWEEP_ORDER; report what is left."""
    sweep = _Sweep(
        ec2=aws_client("ec2", spec.region),
        elbv2=aws_client("elbv2", spec.region),
        cluster=spec.cluster_name,
        # The longest wait is an NLB letting go of its interfaces, which blocks its groups.
        deadline=time.monotonic() + spec.timeouts.nlb_active,
        poll=spec.poll,
        logger=logger,
    )
    results: list[StepResult] = []
    failures: list[Failure] = []
    for kind, stage in _SWEEP_STAGES.items():
        try:
            deleted, gone, failed = stage(sweep)
        except ClientError as e:
            raise aws_failure(f"find the {NOUNS[kind]}s left of {spec.cluster_name}", e) from e
        results.append(kind_result(f"sweep-{kind.replace('_', '-')}", kind, deleted, gone))
        failures += failed
    iam_results, iam_failures = _sweep_iam(aws_client("iam", spec.region), spec)
    results += iam_results
    results += _left_results(spec, results, [*failures, *iam_failures])
    for result in results:
        logger.info("%s: %s", result.step, result.summary)
    return results
