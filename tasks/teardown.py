"""Teardown: remove what provision made, then sweep up whatever ``kops delete cluster`` left.

AWS refuses to delete what something else still uses, so the order matters. The bastion goes
first, before ``kops delete cluster``: kops does not know about it, and its security group in the
cluster VPC would keep kops from deleting the VPC. After kops, a sweep deletes anything still
tagged for the cluster (an NLB whose Service was never deleted, its target groups, stray
instances, detached interfaces and volumes, security groups) in dependency order. What it cannot
delete it reports as "left", with the reason, instead of failing the run: the report then says
exactly what a person still has to look at, and ``inventory`` proves when nothing is left.

Ownership comes from tags. An IAM role or the state-store bucket is deleted only when it carries
the project's mark, because a role or bucket with a familiar name may well be someone else's.
Every task is idempotent: something already gone counts as done and reports ``changed=False``.
None is cached: within one flow run a second sweep or inventory must look at AWS again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.core.errors import (
    ConflictError,
    KopsNlbError,
    TransientError,
    WaitTimeout,
    aws_error_code,
    aws_failure,
    is_transient,
)
from kops_nlb.core.naming import (
    PROJECT,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
    bastion_role_name,
    bastion_security_group_name,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import RETRY_OPTIONS
from tasks.bastion import COMPONENT as BASTION_COMPONENT
from tasks.network import CLUSTER_TAG
from tasks.nlb import DESCRIBE_TAGS_BATCH, chunks, cluster_tag_key

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
Outcome = Literal["gone", "retry", "fail"]
StoreAction = Literal["delete", "left", "refuse"]

# Instances in these states still exist (and hold their interfaces and volumes).
NOT_TERMINATED = ("pending", "running", "stopping", "stopped", "shutting-down")
# S3 DeleteObjects takes at most 1,000 keys per request.
DELETE_OBJECTS_BATCH = 1000
# Error codes meaning the resource is not there (any more).
GONE_CODES = frozenset(
    {
        "InvalidGroup.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidNetworkInterfaceID.NotFound",
        "InvalidVolume.NotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "NoSuchEntity",
        "NoSuchBucket",
    }
)
# Error codes meaning something still uses the resource and will let go of it soon (an NLB's
# interfaces disappear minutes after the NLB, an instance's after it terminates).
IN_USE_CODES = frozenset(
    {
        "DependencyViolation",
        "ResourceInUse",
        "InvalidNetworkInterface.InUse",
        "VolumeInUse",
    }
)
# Every kind `inventory` reports, with the word used in summaries.
NOUNS = {
    "instances": "instance",
    "load_balancers": "load balancer",
    "target_groups": "target group",
    "security_groups": "security group",
    "network_interfaces": "network interface",
    "volumes": "volume",
    "vpcs": "VPC",
    "subnets": "subnet",
    "iam_roles": "IAM role",
    "instance_profiles": "instance profile",
}


@dataclass(frozen=True)
class Failure:
    """One resource that could not be deleted, and why."""

    kind: str
    id: str
    reason: str
    transient: bool = False

    def __str__(self) -> str:
        return f"{NOUNS.get(self.kind, self.kind)} {self.id}: {self.reason}"


@dataclass(frozen=True)
class Resource:
    """One thing found still tagged for the cluster."""

    kind: str
    id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""  # state, status, or (security groups) the group name


class TeardownIncomplete(KopsNlbError):
    """Some resources could not be deleted; the message names each one and why."""

    def __init__(self, what: str, failures: Sequence[Failure]) -> None:
        self.failures = tuple(failures)
        super().__init__(failure_message(what, failures))


class TransientTeardownIncomplete(TeardownIncomplete, TransientError):
    """Every failure was transient (throttling, server trouble): retrying the task may finish."""


# ---- pure decisions -------------------------------------------------------------------------


def owned_by_project(tags: Mapping[str, str], cluster: str) -> bool:
    """Tell whether tags mark a resource as made by this project for this cluster."""
    return tags.get(TAG_MANAGED_BY) == PROJECT and tags.get(TAG_CLUSTER) == cluster


def cluster_tagged(tags: Mapping[str, str], cluster: str) -> bool:
    """Tell whether a resource is the cluster's: kops's or the cloud controller's tag, or ours.

    ``kubernetes.io/cluster/<name>=shared`` marks something the cluster only uses (a shared VPC's
    subnets, say): never the cluster's to delete, and not counted as left.
    """
    if tags.get(cluster_tag_key(cluster)) == "shared":
        return False
    return (
        tags.get(CLUSTER_TAG) == cluster
        or cluster_tag_key(cluster) in tags
        or owned_by_project(tags, cluster)
    )


def cluster_filter_sets(cluster: str) -> list[list[dict[str, Any]]]:
    """Return EC2 filter lists, one per way a resource is tagged for the cluster (EC2 ANDs them).

    They also match ``shared`` resources; filter what they find with `cluster_tagged`.
    """
    return [
        [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}],
        [{"Name": "tag-key", "Values": [cluster_tag_key(cluster)]}],
        [
            {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        ],
    ]


def bastion_instance_filters(cluster: str) -> list[dict[str, Any]]:
    """Return DescribeInstances filters for every not-terminated bastion of the cluster, any VPC."""
    return [
        {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        {"Name": f"tag:{TAG_COMPONENT}", "Values": [BASTION_COMPONENT]},
        {"Name": "instance-state-name", "Values": list(NOT_TERMINATED)},
    ]


def profile_is_ours(profile_tags: Mapping[str, str], *, role_is_ours: bool, cluster: str) -> bool:
    """Tell whether the bastion's instance profile may go: tagged ours, or it holds our role."""
    return owned_by_project(profile_tags, cluster) or role_is_ours


def delete_outcome(exc: BaseException) -> Outcome:
    """Classify a failed delete: already gone, worth retrying (in use, throttled), or failed."""
    code = aws_error_code(exc)
    if code in GONE_CODES:
        return "gone"
    if code in IN_USE_CODES or is_transient(exc):
        return "retry"
    return "fail"


def error_reason(exc: BaseException) -> str:
    """Return '<Code>: <message>' of an AWS error, else the exception's type and text."""
    code = aws_error_code(exc)
    if code is not None and isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{code}: {message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def referencing_permissions(
    permissions: Iterable[Mapping[str, Any]], group_id: str
) -> list[dict[str, Any]]:
    """Return the parts of a group's rules that reference other groups, ready to revoke.

    A group cannot be deleted while another group's rule names it, so these go first. Address
    ranges stay (they block nothing), and so do references to the group itself.
    """
    revoke: list[dict[str, Any]] = []
    for permission in permissions:
        pairs = [
            {k: pair[k] for k in ("GroupId", "UserId") if pair.get(k)}
            for pair in permission.get("UserIdGroupPairs") or []
            if pair.get("GroupId") and pair.get("GroupId") != group_id
        ]
        if not pairs:
            continue
        rule: dict[str, Any] = {"IpProtocol": permission["IpProtocol"], "UserIdGroupPairs": pairs}
        for port in ("FromPort", "ToPort"):
            if port in permission:
                rule[port] = permission[port]
        revoke.append(rule)
    return revoke


def sweepable_group(group: Mapping[str, Any]) -> bool:
    """Tell whether the sweep may delete a group: not a default group (that goes with its VPC)."""
    return group.get("GroupName") != "default"


def left_reason(resource: Resource, cluster: str) -> str:
    """Return why a resource found after the sweep is still there, for the teardown report."""
    if resource.kind in {"vpcs", "subnets"}:
        return (
            "kops delete cluster deletes the cluster's network: run it again (it resumes), "
            "then the sweep"
        )
    if resource.kind in {"iam_roles", "instance_profiles"}:
        if resource.id.startswith(("masters.", "nodes.", "bastions.")):
            return "made by kops: kops delete cluster deletes it (the project never does)"
        return f"not tagged {TAG_MANAGED_BY}={PROJECT}: not made by this project"
    if resource.kind == "security_groups" and resource.detail == "default":
        return "the VPC's default group: it goes with the VPC"
    if resource.kind in {"volumes", "network_interfaces"} and resource.detail:
        return f"{resource.detail}: only available ones are deleted"
    return "still present after the sweep"


def state_store_decision(
    tags: Mapping[str, str],
    *,
    cluster: str,
    named_by_user: bool,
    force: bool,
    other_entries: Sequence[str] = (),
) -> tuple[StoreAction, str]:
    """Decide what to do with the state-store bucket, and say why.

    The project tags a bucket only when it creates it, so a tagged bucket is ours. An untagged
    bucket named in the spec may be the user's: deleted only with ``force``. An untagged bucket
    under the derived name is refused: the name is the project's, the bucket apparently not.
    Content outside ``<cluster>/`` (another cluster's kops state) is left unless forced.
    """
    managed = tags.get(TAG_MANAGED_BY) == PROJECT
    owner = tags.get(TAG_CLUSTER)
    if managed and owner != cluster:
        return "refuse", f"tagged for cluster {owner!r}, not {cluster!r}"
    if not managed and not named_by_user:
        return "refuse", (
            "the derived state-store name, but not tagged by kops-nlb-flows; if it is yours, "
            "name it in state_store_bucket and pass force=True"
        )
    if not managed and not force:
        return "left", (
            "not created by kops-nlb-flows (named in the spec); pass force=True to delete it"
        )
    if other_entries and not force:
        shown = ", ".join(other_entries[:5]) + (" ..." if len(other_entries) > 5 else "")
        return "left", f"holds more than this cluster's state ({shown}); pass force=True"
    return "delete", "created by kops-nlb-flows" if managed else "named in the spec, force=True"


def other_entries(current_keys: Iterable[str], cluster: str) -> list[str]:
    """Return the bucket's top-level entries other than the cluster's own ``<cluster>/`` folder."""
    tops = {key.split("/", 1)[0] + ("/" if "/" in key else "") for key in current_keys}
    return sorted(tops - {f"{cluster}/"})


def version_batches(
    versions: Iterable[Mapping[str, Any]], size: int = DELETE_OBJECTS_BATCH
) -> list[list[dict[str, str]]]:
    """Return DeleteObjects entries (key, version id) of versions and delete markers, in batches."""
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
    return [list(batch) for batch in chunks(entries, size)]


def kind_result(step: str, kind: str, deleted: Sequence[str], gone: Sequence[str]) -> StepResult:
    """Return the StepResult of deleting one kind of resource: changed when any was deleted now."""
    noun = NOUNS.get(kind, kind)
    if deleted:
        summary = f"deleted {len(deleted)} {noun}(s): {', '.join(deleted)}"
        if gone:
            summary += f"; already gone: {', '.join(gone)}"
    elif gone:
        summary = f"already gone: {noun}(s) {', '.join(gone)}"
    else:
        summary = f"no {noun} left"
    ids = {"deleted": ",".join(deleted)} if deleted else {}
    return StepResult(step=step, changed=bool(deleted), summary=summary, ids=ids)


def left_result(kind: str, resource_id: str, reason: str) -> StepResult:
    """Return the StepResult reporting a resource left in place, with the reason."""
    noun = NOUNS.get(kind, kind)
    return StepResult(
        step="left",
        changed=False,
        summary=f"left {noun} {resource_id}: {reason}",
        ids={"kind": kind, "id": resource_id},
    )


def failure_message(what: str, failures: Sequence[Failure]) -> str:
    """Return one message naming every resource that could not be deleted and why."""
    lines = "; ".join(str(f) for f in failures)
    return f"Failed to {what}: {len(failures)} resource(s) not deleted: {lines}"


def raise_if_failed(what: str, failures: Sequence[Failure]) -> None:
    """Raise once for all failures: retryable only when every one of them was transient."""
    if not failures:
        return
    if all(f.transient for f in failures):
        raise TransientTeardownIncomplete(what, failures)
    raise TeardownIncomplete(what, failures)


# ---- deleting with retries ------------------------------------------------------------------


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def delete_all(
    deletes: Mapping[str, Callable[[], object]],
    *,
    kind: str,
    timeout: float,
    poll: PollPolicy,
    logger: Logger | None = None,
    retry_in_use: bool = True,
) -> tuple[list[str], list[str], list[Failure]]:
    """Call each delete, retrying in-use ones until the deadline; return (deleted, gone, failed).

    An error meaning "not found" counts as already gone. "In use" and transient errors are tried
    again (every `poll`) until `timeout`; with `retry_in_use` off they fail at once (used when
    what holds the resource could not be removed). Any other error fails that item only.
    """
    pending = dict(deletes)
    deleted: list[str] = []
    gone: list[str] = []
    failures: list[Failure] = []
    last: dict[str, BaseException] = {}

    def attempt() -> Observation[None]:
        for resource_id, delete in list(pending.items()):
            try:
                delete()
            except (ClientError, BotoCoreError) as exc:
                outcome = delete_outcome(exc)
                if outcome == "gone":
                    gone.append(resource_id)
                elif outcome == "retry" and retry_in_use:
                    last[resource_id] = exc
                    continue
                else:
                    failures.append(
                        Failure(kind, resource_id, error_reason(exc), is_transient(exc))
                    )
            else:
                deleted.append(resource_id)
            del pending[resource_id]
        failing = tuple(f"{rid}: {error_reason(last[rid])}" for rid in pending)
        return Observation(ready=not pending, failing=failing)

    if pending:
        try:
            wait_until(
                attempt,
                what=f"delete {NOUNS.get(kind, kind)}(s) {', '.join(pending)}",
                timeout=timeout,
                poll=poll,
                logger=logger,
            )
        except WaitTimeout as exc:
            failures.extend(
                Failure(kind, rid, f"{error_reason(last[rid])} (still after {exc.waited:.0f}s)")
                for rid in pending
            )
    return deleted, gone, failures


def _instance_states(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    reservations = paginate(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-id", "Values": list(instance_ids)}],
    )
    return {
        i["InstanceId"]: i.get("State", {}).get("Name", "unknown")
        for r in reservations
        for i in r.get("Instances", [])
    }


def terminate_and_wait(
    ec2: Any,
    instances: Mapping[str, str],
    *,
    timeout: float,
    poll: PollPolicy,
    logger: Logger | None = None,
) -> tuple[list[str], list[str], list[Failure]]:
    """Terminate instances ({id: state}) and wait until each is terminated.

    Returns (terminated now, already going or gone, failures). An instance already shutting
    down is only waited for.
    """
    start = time.monotonic()
    to_terminate = {
        iid: partial(ec2.terminate_instances, InstanceIds=[iid])
        for iid, state in instances.items()
        if state != "shutting-down"
    }
    terminated, gone, failures = delete_all(
        to_terminate, kind="instances", timeout=timeout, poll=poll, logger=logger
    )
    gone += [iid for iid, state in instances.items() if state == "shutting-down"]
    waiting = [iid for iid in instances if iid in terminated or iid in gone]
    if not waiting:
        return terminated, gone, failures

    busy: dict[str, str] = {}

    def look() -> Observation[None]:
        try:
            states = _instance_states(ec2, waiting)
        except ClientError as e:
            raise aws_failure(f"describe instances {', '.join(waiting)}", e) from e
        busy.clear()
        busy.update({iid: s for iid, s in states.items() if s != "terminated"})
        return Observation(
            ready=not busy, failing=tuple(f"{iid} is {s}" for iid, s in sorted(busy.items()))
        )

    try:
        wait_until(
            look,
            what=f"instances {', '.join(waiting)} terminated",
            timeout=max(0.0, timeout - (time.monotonic() - start)),
            poll=poll,
            logger=logger,
        )
    except WaitTimeout as exc:
        failures.extend(
            Failure("instances", iid, f"still {state} after {exc.waited:.0f}s")
            for iid, state in sorted(busy.items())
        )
    except KopsNlbError as exc:
        failures.extend(Failure("instances", iid, str(exc), is_transient(exc)) for iid in waiting)
    return terminated, gone, failures


# ---- finding what is still there ------------------------------------------------------------


def _by_id(resource: Resource) -> str:
    return resource.id


def _tagged_instances(ec2: Any, cluster: str) -> list[Resource]:
    states = [{"Name": "instance-state-name", "Values": list(NOT_TERMINATED)}]
    found: dict[str, Resource] = {}
    for filters in cluster_filter_sets(cluster):
        for reservation in paginate(
            ec2, "describe_instances", "Reservations", Filters=[*filters, *states]
        ):
            for i in reservation.get("Instances", []):
                found[i["InstanceId"]] = Resource(
                    "instances", i["InstanceId"], tags_to_dict(i.get("Tags")), i["State"]["Name"]
                )
    return sorted((r for r in found.values() if cluster_tagged(r.tags, cluster)), key=_by_id)


# How each EC2 kind is described: operation, result key, id key, tags key, detail key.
_EC2_KINDS = {
    "vpcs": ("describe_vpcs", "Vpcs", "VpcId", "Tags", "State"),
    "subnets": ("describe_subnets", "Subnets", "SubnetId", "Tags", "State"),
    "security_groups": (
        "describe_security_groups",
        "SecurityGroups",
        "GroupId",
        "Tags",
        "GroupName",
    ),
    "network_interfaces": (
        "describe_network_interfaces",
        "NetworkInterfaces",
        "NetworkInterfaceId",
        "TagSet",
        "Status",
    ),
    "volumes": ("describe_volumes", "Volumes", "VolumeId", "Tags", "State"),
}


def _ec2_resources(
    ec2: Any, cluster: str, kind: str, extra: Sequence[dict[str, Any]] = ()
) -> list[Resource]:
    operation, key, id_key, tags_key, detail_key = _EC2_KINDS[kind]
    found: dict[str, Mapping[str, Any]] = {}
    for filters in cluster_filter_sets(cluster):
        for item in paginate(ec2, operation, key, Filters=[*filters, *extra]):
            found.setdefault(item[id_key], item)
    resources = [
        Resource(kind, rid, tags_to_dict(item.get(tags_key)), str(item.get(detail_key, "")))
        for rid, item in sorted(found.items())
    ]
    return [r for r in resources if cluster_tagged(r.tags, cluster)]


def _elbv2_tags(elbv2: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for batch in chunks(arns, DESCRIBE_TAGS_BATCH):
        for entry in elbv2.describe_tags(ResourceArns=list(batch))["TagDescriptions"]:
            tags[entry["ResourceArn"]] = tags_to_dict(entry.get("Tags"))
    return tags


def tagged_load_balancers(elbv2: Any, cluster: str) -> list[Resource]:
    """Return the ELBv2 load balancers tagged for the cluster (tags read 20 ARNs at a time)."""
    lbs = paginate(elbv2, "describe_load_balancers", "LoadBalancers")
    tags = _elbv2_tags(elbv2, [lb["LoadBalancerArn"] for lb in lbs])
    return [
        Resource("load_balancers", lb["LoadBalancerArn"], tags.get(lb["LoadBalancerArn"], {}))
        for lb in lbs
        if cluster_tagged(tags.get(lb["LoadBalancerArn"], {}), cluster)
    ]


def tagged_target_groups(elbv2: Any, cluster: str) -> list[Resource]:
    """Return the ELBv2 target groups tagged for the cluster."""
    groups = paginate(elbv2, "describe_target_groups", "TargetGroups")
    tags = _elbv2_tags(elbv2, [g["TargetGroupArn"] for g in groups])
    return [
        Resource("target_groups", g["TargetGroupArn"], tags.get(g["TargetGroupArn"], {}))
        for g in groups
        if cluster_tagged(tags.get(g["TargetGroupArn"], {}), cluster)
    ]


def _iam_names(spec: EnvironmentSpec) -> list[str]:
    cluster = spec.cluster_name
    return [
        f"masters.{cluster}",
        f"nodes.{cluster}",
        f"bastions.{cluster}",
        bastion_role_name(spec),
    ]


def _iam_resources(iam: Any, spec: EnvironmentSpec) -> dict[str, list[Resource]]:
    found: dict[str, list[Resource]] = {"iam_roles": [], "instance_profiles": []}
    for name in _iam_names(spec):
        for kind, call, key in (
            ("iam_roles", iam.get_role, "Role"),
            ("instance_profiles", iam.get_instance_profile, "InstanceProfile"),
        ):
            arg = {"RoleName": name} if kind == "iam_roles" else {"InstanceProfileName": name}
            try:
                item = call(**arg)[key]
            except ClientError as e:
                if aws_error_code(e) == "NoSuchEntity":
                    continue
                raise
            found[kind].append(Resource(kind, name, tags_to_dict(item.get("Tags"))))
    return found


def survey(spec: EnvironmentSpec) -> dict[str, list[Resource]]:
    """Return everything still tagged for the cluster (or as ours), by kind; kinds may be empty."""
    ec2 = aws_client("ec2", spec.region)
    elbv2 = aws_client("elbv2", spec.region)
    iam = aws_client("iam", spec.region)
    cluster = spec.cluster_name
    try:
        found = {
            "instances": _tagged_instances(ec2, cluster),
            "load_balancers": tagged_load_balancers(elbv2, cluster),
            "target_groups": tagged_target_groups(elbv2, cluster),
            **{
                kind: _ec2_resources(ec2, cluster, kind)
                for kind in ("security_groups", "network_interfaces", "volumes", "vpcs", "subnets")
            },
            **_iam_resources(iam, spec),
        }
    except ClientError as e:
        raise aws_failure(f"list what is left of cluster {cluster}", e) from e
    return found


# ---- the bastion ----------------------------------------------------------------------------


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


def _delete_role(iam: Any, name: str) -> None:
    for policy in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for profile in paginate(
        iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name
    ):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name
        )
    iam.delete_role(RoleName=name)


def _delete_profile(iam: Any, name: str, roles: Iterable[str]) -> None:
    for role in roles:
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=name)


def _get_or_none(call: Callable[..., Any], key: str, **kwargs: Any) -> Mapping[str, Any] | None:
    try:
        return call(**kwargs)[key]
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return None
        raise


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
        failure = Failure(kind, name, error_reason(e), is_transient(e))
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
        role = _get_or_none(iam.get_role, "Role", RoleName=name)
        profile = _get_or_none(
            iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name
        )
    except ClientError as e:
        return [], [Failure("iam_roles", name, error_reason(e), is_transient(e))]
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
            delete=partial(_delete_profile, iam, name, profile_roles),
        ),
        _iam_step(
            "bastion-role",
            "iam_roles",
            name,
            found=role is not None,
            ours=role_ours,
            delete=partial(_delete_role, iam, name),
        ),
    ]
    return [r for r, _ in outcomes], [f for _, f in outcomes if f is not None]


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def delete_bastion(spec: EnvironmentSpec) -> list[StepResult]:
    """Delete the SSM bastion: its instances, security group, instance profile and role.

    Only what carries the project's tags is deleted; a same-named role or group that does not is
    reported as "left". Every part is tried; then one error lists whatever could not be deleted.
    """
    logger = get_run_logger()
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
        ec2, instances, timeout=_remaining(deadline), poll=spec.poll, logger=logger
    )
    results = [kind_result("bastion-instance", "instances", terminated, gone)]
    try:
        groups, foreign = _bastion_groups(ec2, spec)
    except ClientError as e:
        raise aws_failure(f"look up the bastion security group of {cluster}", e) from e
    deleted, gone, group_failures = delete_all(
        {g: partial(ec2.delete_security_group, GroupId=g) for g in groups},
        kind="security_groups",
        timeout=_remaining(deadline),
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


# ---- the sweep after kops -------------------------------------------------------------------


def _delete_load_balancer(elbv2: Any, arn: str) -> None:
    # DeleteLoadBalancer succeeds for a missing ARN; DescribeListeners says whether it is there.
    for listener in paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn):
        try:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        except ClientError as e:
            if aws_error_code(e) != "ListenerNotFound":
                raise
    elbv2.delete_load_balancer(LoadBalancerArn=arn)


def _target_groups_of(elbv2: Any, lb_arns: Iterable[str]) -> list[str]:
    arns: list[str] = []
    for lb_arn in lb_arns:
        try:
            groups = paginate(
                elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=lb_arn
            )
        except ClientError as e:
            if aws_error_code(e) not in {"LoadBalancerNotFound", "TargetGroupNotFound"}:
                raise
            groups = []
        arns += [g["TargetGroupArn"] for g in groups]
    return arns


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
                        Failure("security_groups", gid, error_reason(e), is_transient(e))
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
            timeout=_remaining(self.deadline),
            poll=self.poll,
            logger=self.logger,
        )


def _sweep_load_balancers(s: _Sweep) -> Deletion:
    arns = [r.id for r in tagged_load_balancers(s.elbv2, s.cluster)]
    s.lb_target_groups = _target_groups_of(s.elbv2, arns)  # gone with the LB: read them first
    return s.delete("load_balancers", {a: partial(_delete_load_balancer, s.elbv2, a) for a in arns})


def _sweep_target_groups(s: _Sweep) -> Deletion:
    tagged = [r.id for r in tagged_target_groups(s.elbv2, s.cluster)]
    arns = sorted({*s.lb_target_groups, *tagged})
    return s.delete(
        "target_groups", {a: partial(s.elbv2.delete_target_group, TargetGroupArn=a) for a in arns}
    )


def _sweep_instances(s: _Sweep) -> Deletion:
    instances = {r.id: r.detail for r in _tagged_instances(s.ec2, s.cluster)}
    return terminate_and_wait(
        s.ec2, instances, timeout=_remaining(s.deadline), poll=s.poll, logger=s.logger
    )


_AVAILABLE = ({"Name": "status", "Values": ["available"]},)


def _sweep_network_interfaces(s: _Sweep) -> Deletion:
    ids = [r.id for r in _ec2_resources(s.ec2, s.cluster, "network_interfaces", _AVAILABLE)]
    return s.delete(
        "network_interfaces",
        {i: partial(s.ec2.delete_network_interface, NetworkInterfaceId=i) for i in ids},
    )


def _sweep_volumes(s: _Sweep) -> Deletion:
    ids = [r.id for r in _ec2_resources(s.ec2, s.cluster, "volumes", _AVAILABLE)]
    return s.delete("volumes", {v: partial(s.ec2.delete_volume, VolumeId=v) for v in ids})


def _sweep_security_groups(s: _Sweep) -> Deletion:
    groups = _ec2_resources(s.ec2, s.cluster, "security_groups")
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
    return [step, *(r for r in results if r.step == "left")], failures


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def sweep_cluster_resources(spec: EnvironmentSpec) -> list[StepResult]:
    """Delete what is still tagged for the cluster after ``kops delete cluster``; report the rest.

    Order (SWEEP_ORDER): load balancers (listeners first), their and other tagged target groups,
    instances, available network interfaces and volumes, security groups (references to other
    groups revoked first), the project's own IAM role and profile. Whatever could not be deleted,
    and whatever is still tagged afterwards (the VPC, subnets, kops's roles), is reported as a
    "left" step with the reason; nothing is raised for it.
    """
    logger = get_run_logger()
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


def _left_results(
    spec: EnvironmentSpec, results: Sequence[StepResult], failures: Sequence[Failure]
) -> list[StepResult]:
    reported = {(r.ids.get("kind"), r.ids.get("id")) for r in results if r.step == "left"}
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


# ---- the state store ------------------------------------------------------------------------

_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})


def _bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return tags_to_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    except ClientError as e:
        if aws_error_code(e) == "NoSuchTagSet":
            return {}
        raise


def _empty_bucket(s3: Any, bucket: str, versions: Sequence[Mapping[str, Any]]) -> None:
    errors: list[str] = []
    for batch in version_batches(versions):
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors += [
            f"{e.get('Key')}@{e.get('VersionId')}: {e.get('Code')}"
            for e in response.get("Errors", [])
        ]
    if errors:
        shown = "; ".join(errors[:10]) + (
            f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        )
        raise KopsNlbError(
            f"Failed to empty bucket {bucket}: {len(errors)} version(s) not deleted: {shown}"
        )


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def delete_state_store(
    spec: EnvironmentSpec, account_id: str, *, force: bool = False
) -> StepResult:
    """Empty (every version and delete marker) and delete the kops state-store bucket.

    Deletes a bucket the project made (tagged), or a bucket named in the spec when `force` is
    set; leaves another named bucket alone ("left"), and refuses an untagged bucket under the
    derived name (ConflictError). A missing bucket is reported unchanged.
    """
    bucket = spec.bucket_for(account_id)
    s3 = aws_client("s3", spec.region)
    ids = {"bucket": bucket, "state_store": f"s3://{bucket}"}
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if aws_error_code(e) in _MISSING_BUCKET_CODES:
            return StepResult(
                step="state-store", changed=False, summary=f"bucket {bucket} already gone", ids=ids
            )
        if aws_error_code(e) in {"403", "Forbidden", "AccessDenied"}:
            raise ConflictError(f"S3 bucket {bucket} is not accessible to these credentials") from e
        raise aws_failure(f"look up bucket {bucket}", e) from e
    try:
        tags = _bucket_tags(s3, bucket)
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as e:
        raise aws_failure(f"read the tags and versions of bucket {bucket}", e) from e
    versions = [v for page in pages for v in page.get("Versions", [])]
    markers = [m for page in pages for m in page.get("DeleteMarkers", [])]
    action, reason = state_store_decision(
        tags,
        cluster=spec.cluster_name,
        named_by_user=spec.state_store_bucket is not None,
        force=force,
        other_entries=other_entries(
            (v["Key"] for v in versions if v.get("IsLatest")), spec.cluster_name
        ),
    )
    if action == "refuse":
        raise ConflictError(f"refusing to delete S3 bucket {bucket}: {reason}")
    if action == "left":
        summary = f"left: {reason} (bucket {bucket})"
        get_run_logger().warning(summary)
        return StepResult(
            step="left", changed=False, summary=summary, ids={**ids, "kind": "bucket", "id": bucket}
        )
    try:
        _empty_bucket(s3, bucket, [*versions, *markers])
        s3.delete_bucket(Bucket=bucket)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchBucket":
            return StepResult(
                step="state-store", changed=False, summary=f"bucket {bucket} already gone", ids=ids
            )
        if aws_error_code(e) == "BucketNotEmpty":
            raise TransientError(f"bucket {bucket} got new objects while being emptied") from e
        raise aws_failure(f"delete bucket {bucket}", e) from e
    summary = (
        f"deleted bucket {bucket} ({reason}): {len(versions)} object version(s), "
        f"{len(markers)} delete marker(s)"
    )
    get_run_logger().info(summary)
    return StepResult(step="state-store", changed=True, summary=summary, ids=ids)


# ---- inventory ------------------------------------------------------------------------------


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def inventory(spec: EnvironmentSpec) -> dict[str, list[str]]:
    """Return the ids of everything still tagged for the cluster or as ours, by kind.

    Read-only. Only kinds with something left appear, so an empty dict means nothing is left.
    Instances count until terminated; IAM roles and instance profiles are looked up by name
    (``masters.``, ``nodes.``, ``bastions.`` and the bastion's).
    """
    return {
        kind: [r.id for r in resources] for kind, resources in survey(spec).items() if resources
    }
