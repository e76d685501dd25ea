"""Cleanup after a failed ``provision``: remove what that run created, and nothing else.

A run that fails part-way leaves half an environment behind. With ``cleanup_on_failure`` the
flow hands the results of the steps that finished to `clean_up_failed_provision`, which decides
(`cleanup_plan`, pure) what the run created itself and removes exactly that, in dependency order:
the workload, the bastion, the NLB policy, the cluster (``kops delete cluster`` and the sweep by
tags), and last the state store. Whatever a step found in place, or only adjusted, existed before
the run and is kept. Each removal is tried on its own; what could not be removed is reported
with the reason, never raised, so the flow still fails with its original error.

This is an explicit path on purpose, not Prefect transactions: a task that fails once inside a
transaction and then succeeds on retry rolls back the rest at once, and the run ends Completed
with its resources gone.

``changed`` alone does not tell creating from adjusting (a user's bucket whose versioning was
switched on is changed, not new), so `created_parts` reads the words each ensure-task reports;
tests/tasks/test_cleanup.py runs those tasks to pin the words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Literal, TypeVar, get_args

from botocore.exceptions import ClientError
from kubernetes.client.exceptions import ApiException
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from pydantic import BaseModel, ConfigDict, Field

from kops_nlb.aws.client import aws_client
from kops_nlb.core.errors import aws_error_code
from kops_nlb.core.reports.steps import artifact_key
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kube.client import apps_v1, core_v1, is_not_found, kube_api
from tasks.cluster import delete_cluster
from tasks.iam_nlb import remove_nlb_permissions
from tasks.preflight import caller_account
from tasks.teardown import (
    _delete_profile,
    _delete_role,
    delete_all,
    delete_state_store,
    error_reason,
    sweep_cluster_resources,
    terminate_and_wait,
)
from tasks.workload import wait_for_service_gone

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
# In dependency order, as in teardown: the Service first (its finalizer makes the cloud
# controller delete the NLB), the bastion before kops (its group would keep kops from deleting
# the VPC), the state store last (kops needs it to delete the cluster).
Action = Literal[
    "delete-service",
    "delete-deployment",
    "delete-namespace",
    "terminate-bastion",
    "delete-bastion-security-group",
    "delete-bastion-instance-profile",
    "delete-bastion-role",
    "remove-nlb-permissions",
    "delete-cluster",
    "sweep",
    "delete-state-store",
]
Result = Literal["removed", "gone", "failed", "skipped"]
ACTION_ORDER: tuple[Action, ...] = get_args(Action)


class Removal(BaseModel):
    """One thing the failed run created, and why it counts as the run's."""

    model_config = ConfigDict(frozen=True)

    action: Action
    target: str
    reason: str
    ids: dict[str, str] = Field(default_factory=dict)


class Kept(BaseModel):
    """Something the run found in place (or only adjusted): it stays."""

    model_config = ConfigDict(frozen=True)

    step: str
    reason: str


class CleanupPlan(BaseModel):
    """What cleanup removes, in order, and what it keeps."""

    model_config = ConfigDict(frozen=True)

    removals: list[Removal]
    kept: list[Kept]


class Outcome(BaseModel):
    """What became of one removal (the sweep reports one outcome per kind it deleted)."""

    model_config = ConfigDict(frozen=True)

    action: Action
    target: str
    result: Result
    detail: str


# ---- pure decisions -------------------------------------------------------------------------


def done_items(summary: str) -> list[str]:
    """Return what a step says it did: the comma-separated list after the summary's last ': '."""
    _, _, done = summary.rpartition(": ")
    return [item.strip() for item in done.split(",") if item.strip()]


def created_parts(step: StepResult) -> frozenset[str]:
    """Return what a finished step created itself; empty when it found everything in place.

    The parts are the step's name, except for ``bastion-role``, which may create a ``role`` and
    an ``instance-profile`` independently. Patching, re-tagging or starting something that was
    there counts as found, not created.
    """
    if not step.changed:
        return frozenset()
    name, summary = step.step, step.summary
    if name == "bastion-role":
        done = done_items(summary)
        parts = {"role": "role created", "instance-profile": "instance profile created"}
        return frozenset(part for part, words in parts.items() if words in done)
    created = {
        "state-store": "created" in done_items(summary),
        "bastion-security-group": "created" in done_items(summary),
        "bastion-instance": summary.startswith("launched "),
        "namespace": summary.startswith("created "),
        "nginx": summary.startswith("created "),
        "service": summary.startswith("created "),
        # These change only by creating (the cluster) or adding (our inline policy).
        "cluster": True,
        "nlb-permissions": True,
    }.get(name, False)
    return frozenset({name}) if created else frozenset()


def _kept(step: StepResult, missing: Iterable[str] = ()) -> Kept:
    what = f" ({', '.join(missing)})" if missing else ""
    if step.changed:
        return Kept(
            step=step.step,
            reason=f"existed before this run{what}, which only adjusted it: {step.summary}",
        )
    return Kept(step=step.step, reason=f"found in place{what}: {step.summary}")


def cleanup_plan(spec: EnvironmentSpec, steps: Sequence[StepResult]) -> CleanupPlan:
    """Decide what a failed provision run removes: what its finished steps created, in order.

    A cluster counts as the run's when its step created it, or when the state store is new and
    the cluster step did not finish (kops may have written part of a cluster into it). The state
    store goes only when the run created it and no cluster that existed before lives in it.
    """
    by_step = {s.step: s for s in steps}
    made = {name: created_parts(s) for name, s in by_step.items()}
    removals: list[Removal] = []
    kept: list[Kept] = []

    def created(name: str, part: str | None = None) -> StepResult | None:
        step = by_step.get(name)
        return step if step is not None and (part or name) in made[name] else None

    def remove(
        action: Action, target: str, because: str, ids: dict[str, str] | None = None
    ) -> None:
        removals.append(Removal(action=action, target=target, reason=because, ids=ids or {}))

    def said(step: StepResult) -> str:
        return f"{step.step}: {step.summary}"

    ns = spec.namespace
    if step := created("service"):
        remove("delete-service", f"{ns}/{spec.service_name}", said(step))
    if step := created("nginx"):
        remove("delete-deployment", f"{ns}/{spec.deployment_name}", said(step))
    if step := created("namespace"):
        remove("delete-namespace", ns, said(step))
    if step := created("bastion-instance"):
        remove("terminate-bastion", step.ids["instance_id"], said(step))
    if step := created("bastion-security-group"):
        remove("delete-bastion-security-group", step.ids["security_group_id"], said(step))
    if step := created("bastion-role", "instance-profile"):
        remove("delete-bastion-instance-profile", step.ids["role"], said(step))
    if step := created("bastion-role", "role"):
        remove("delete-bastion-role", step.ids["role"], said(step))
    if step := created("nlb-permissions"):
        policy = f"{step.ids['policy']} on {step.ids['role']}"
        remove("remove-nlb-permissions", policy, said(step))

    new_store, cluster = created("state-store"), by_step.get("cluster")
    if step := created("cluster"):
        remove("delete-cluster", spec.cluster_name, said(step), step.ids)
        remove("sweep", spec.cluster_name, said(step))
    elif cluster is None and new_store is not None:
        because = (
            "state-store: created by this run, so whatever kops keeps in it is this run's "
            "(the cluster step did not finish)"
        )
        remove("delete-cluster", spec.cluster_name, because, new_store.ids)
        remove("sweep", spec.cluster_name, because)
    if new_store is not None and (cluster is None or made["cluster"]):
        remove("delete-state-store", new_store.ids["bucket"], said(new_store), new_store.ids)
    elif new_store is not None:
        reason = (
            f"created by this run, but it holds the kops state of {spec.cluster_name}, "
            "which existed before the run"
        )
        kept.append(Kept(step="state-store", reason=reason))

    for name, step in by_step.items():
        if name == "bastion-role" and made[name]:
            left = [p for p in ("role", "instance-profile") if p not in made[name]]
            if left:
                kept.append(_kept(step, left))
        elif not made[name]:
            kept.append(_kept(step))
    removals.sort(key=lambda r: ACTION_ORDER.index(r.action))
    return CleanupPlan(removals=removals, kept=kept)


def skip_reason(removal: Removal, earlier: Sequence[Outcome]) -> str | None:
    """Return why a removal must not be tried given what happened before it, else None.

    The state store is kept when the cluster could not be deleted: kops needs that state to
    delete the cluster later.
    """
    if removal.action == "delete-state-store" and any(
        o.action == "delete-cluster" and o.result == "failed" for o in earlier
    ):
        return "kept: it holds the kops state of the cluster that could not be deleted"
    return None


def cleanup_report(
    *, cluster_name: str, error: str, plan: CleanupPlan, outcomes: Sequence[Outcome]
) -> str:
    """Render what cleanup removed, could not remove (and why), and kept."""
    removed = [o for o in outcomes if o.result in {"removed", "gone"}]
    failed = [o for o in outcomes if o.result in {"failed", "skipped"}]
    gone = sum(1 for o in removed if o.result == "gone")
    if not plan.removals:
        headline = "This run had created nothing: nothing to remove."
    else:
        headline = (
            f"Removed {len(removed) - gone}{f' ({gone} already gone)' if gone else ''}, "
            f"could not remove {len(failed)}, kept {len(plan.kept)} that existed before the run."
        )
    error_line = error.replace("\n", " ")
    lines = [
        f"# Cleanup after the failed provisioning of `{cluster_name}`",
        "",
        f"> {error_line}",
        "",
        headline,
        "",
        "## Removed",
        "",
        *([f"- {o.action} `{o.target}`: {o.detail}" for o in removed] or ["- nothing"]),
        "",
        "## Could not remove",
        "",
        *([f"- {o.action} `{o.target}`: {o.detail}" for o in failed] or ["- nothing"]),
        "",
        "## Kept (there before this run)",
        "",
        *([f"- {k.step}: {k.reason}" for k in plan.kept] or ["- nothing"]),
    ]
    if failed:
        lines += [
            "",
            "## Next",
            "",
            f"- Remove the rest: run the `teardown` flow with `confirm_cluster_name={cluster_name}`.",
        ]
    return "\n".join(lines)


# ---- carrying the plan out ------------------------------------------------------------------

Handler = Callable[[EnvironmentSpec, Removal, Sequence[Outcome], Logger], list[Outcome]]


def _outcome(removal: Removal, result: Result, detail: str) -> list[Outcome]:
    return [Outcome(action=removal.action, target=removal.target, result=result, detail=detail)]


def _delete_kube_object(
    removal: Removal, delete: Callable[[], object], noun: str
) -> list[Outcome] | None:
    """Delete one Kubernetes object; return the 'gone' outcome when it was not there."""
    try:
        delete()
    except ApiException as exc:
        if is_not_found(exc):
            return _outcome(removal, "gone", f"{noun} already gone")
        raise
    return None


def _delete_service(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    core = core_v1(kube_api(spec.kubeconfig_file))
    delete = partial(core.delete_namespaced_service, spec.service_name, spec.namespace)
    gone = _delete_kube_object(removal, delete, "service")
    if gone:
        return gone
    wait_for_service_gone(spec, spec.kubeconfig_file)
    return _outcome(removal, "removed", "deleted; the cloud controller deleted its load balancer")


def _delete_deployment(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    apps = apps_v1(kube_api(spec.kubeconfig_file))
    delete = partial(apps.delete_namespaced_deployment, spec.deployment_name, spec.namespace)
    return _delete_kube_object(removal, delete, "deployment") or _outcome(
        removal, "removed", "deleted"
    )


def _delete_namespace(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    core = core_v1(kube_api(spec.kubeconfig_file))
    delete = partial(core.delete_namespace, spec.namespace)
    return _delete_kube_object(removal, delete, "namespace") or _outcome(
        removal, "removed", "deleted"
    )


def _terminate_bastion(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], logger: Logger
) -> list[Outcome]:
    ec2 = aws_client("ec2", spec.region)
    instance_id = removal.target
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as e:
        if aws_error_code(e) == "InvalidInstanceID.NotFound":
            return _outcome(removal, "gone", "instance already gone")
        raise
    states = {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}
    if states.get(instance_id, "terminated") == "terminated":
        return _outcome(removal, "gone", "instance already terminated")
    terminated, _gone, failures = terminate_and_wait(
        ec2, states, timeout=spec.timeouts.bastion_online, poll=spec.poll, logger=logger
    )
    if failures:
        return _outcome(removal, "failed", "; ".join(f.reason for f in failures))
    if terminated:
        return _outcome(removal, "removed", "terminated")
    return _outcome(removal, "gone", "was already shutting down; now terminated")


def _delete_bastion_security_group(
    spec: EnvironmentSpec, removal: Removal, earlier: Sequence[Outcome], logger: Logger
) -> list[Outcome]:
    ec2 = aws_client("ec2", spec.region)
    instance_stuck = any(o.action == "terminate-bastion" and o.result == "failed" for o in earlier)
    deleted, _gone, failures = delete_all(
        {removal.target: partial(ec2.delete_security_group, GroupId=removal.target)},
        kind="security_groups",
        timeout=spec.timeouts.bastion_online,
        poll=spec.poll,
        logger=logger,
        retry_in_use=not instance_stuck,  # an instance still holding it: waiting cannot help
    )
    if failures:
        return _outcome(removal, "failed", "; ".join(f.reason for f in failures))
    return _outcome(removal, *(("removed", "deleted") if deleted else ("gone", "already gone")))


def _delete_bastion_instance_profile(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    iam = aws_client("iam", spec.region)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=removal.target)["InstanceProfile"]
        _delete_profile(iam, removal.target, [r["RoleName"] for r in profile.get("Roles", [])])
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return _outcome(removal, "gone", "instance profile already gone")
        raise
    return _outcome(removal, "removed", "deleted")


def _delete_bastion_role(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    iam = aws_client("iam", spec.region)
    try:
        _delete_role(iam, removal.target)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return _outcome(removal, "gone", "role already gone")
        raise
    return _outcome(removal, "removed", "deleted (its policies detached first)")


def _remove_nlb_permissions(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    result = remove_nlb_permissions(spec)
    return _outcome(removal, "removed" if result.changed else "gone", result.summary)


def _delete_cluster(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    result = delete_cluster(spec, removal.ids["state_store"])
    return _outcome(removal, "removed" if result.changed else "gone", result.summary)


def _sweep(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    results = sweep_cluster_resources(spec)
    outcomes = [
        Outcome(
            action=removal.action,
            target=r.ids.get("id", removal.target) if r.step == "left" else removal.target,
            result="failed" if r.step == "left" else "removed",
            detail=r.summary,
        )
        for r in results
        if r.changed or r.step == "left"
    ]
    return outcomes or _outcome(removal, "gone", "nothing left tagged for the cluster")


def _delete_state_store(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[Outcome], _logger: Logger
) -> list[Outcome]:
    account = caller_account(spec.region)
    if spec.bucket_for(account) != removal.target:
        return _outcome(
            removal, "failed", f"the spec now names bucket {spec.bucket_for(account)}, not this one"
        )
    result = delete_state_store(spec, account)
    if result.step == "left":
        return _outcome(removal, "failed", result.summary)
    return _outcome(removal, "removed" if result.changed else "gone", result.summary)


HANDLERS: dict[Action, Handler] = {
    "delete-service": _delete_service,
    "delete-deployment": _delete_deployment,
    "delete-namespace": _delete_namespace,
    "terminate-bastion": _terminate_bastion,
    "delete-bastion-security-group": _delete_bastion_security_group,
    "delete-bastion-instance-profile": _delete_bastion_instance_profile,
    "delete-bastion-role": _delete_bastion_role,
    "remove-nlb-permissions": _remove_nlb_permissions,
    "delete-cluster": _delete_cluster,
    "sweep": _sweep,
    "delete-state-store": _delete_state_store,
}


def carry_out(spec: EnvironmentSpec, plan: CleanupPlan, logger: Logger) -> list[Outcome]:
    """Try every removal of the plan in order; return the outcomes (failures included)."""
    outcomes: list[Outcome] = []
    for removal in plan.removals:
        skip = skip_reason(removal, outcomes)
        if skip is not None:
            outcomes += _outcome(removal, "skipped", skip)
            continue
        try:
            outcomes += HANDLERS[removal.action](spec, removal, outcomes, logger)
        except Exception as exc:  # noqa: BLE001 - reported, the next removal is still tried
            outcomes += _outcome(removal, "failed", error_reason(exc))
    for o in outcomes:
        log = logger.info if o.result in {"removed", "gone"} else logger.warning
        log("cleanup %s %s: %s (%s)", o.action, o.target, o.result, o.detail)
    return outcomes


@task(cache_policy=NO_CACHE)
def clean_up_failed_provision(
    spec: EnvironmentSpec, steps: list[StepResult], error: str
) -> list[Outcome]:
    """Remove what a failed provision run created (see `cleanup_plan`) and report it.

    The report is the markdown artifact ``provision-cleanup-<cluster>``. Nothing is raised for
    what could not be removed: the outcomes and the artifact say what and why.
    """
    logger = get_run_logger()
    plan = cleanup_plan(spec, steps)
    logger.info(
        "cleanup of %s: removing %s; keeping %s",
        spec.cluster_name,
        ", ".join(f"{r.action} {r.target}" for r in plan.removals) or "nothing",
        ", ".join(k.step for k in plan.kept) or "nothing",
    )
    outcomes = carry_out(spec, plan, logger)
    create_markdown_artifact(
        key=artifact_key("provision-cleanup", spec.cluster_name),
        markdown=cleanup_report(
            cluster_name=spec.cluster_name, error=error, plan=plan, outcomes=outcomes
        ),
        description=f"What the failed provisioning of {spec.cluster_name} created and removed",
    )
    return outcomes


# ---- what the flow started ------------------------------------------------------------------

Entry = TypeVar("Entry", StepResult, PrefectFuture[StepResult])


class StepLedger:
    """Records the steps of a run that may create something, to tell after a failure which finished.

    A step called directly is recorded once it returned (one that raised never is); a submitted
    step is recorded as its future and counts once that completed.
    """

    def __init__(self) -> None:
        self._entries: list[StepResult | PrefectFuture[StepResult]] = []

    def add(self, entry: Entry) -> Entry:
        """Record a step's result, or the future of a submitted step; return it unchanged."""
        self._entries.append(entry)
        return entry

    def finished(self) -> list[StepResult]:
        """Return the results of the steps that completed, once every submitted one settled."""
        futures = [e for e in self._entries if isinstance(e, PrefectFuture)]
        wait(futures)
        results: list[StepResult] = []
        for entry in self._entries:
            if isinstance(entry, PrefectFuture):
                if not entry.state.is_completed():
                    continue
                value: Any = entry.result()
                if isinstance(value, StepResult):
                    results.append(value)
            else:
                results.append(entry)
        return results
