"""What cleanup after a failed ``provision`` removes: exactly what that run created (pure).

A run that fails part-way leaves half an environment behind. With ``cleanup_on_failure`` the
flow hands the results of the steps that finished to cleanup, which removes what those steps
report in ``created``, in dependency order: the workload, the bastion, the NLB policy, the
cluster (``kops delete cluster`` and the sweep by tags), and last the state store. Whatever a step
found in place, or only adjusted, existed before the run and is kept.

This is an explicit path on purpose, not Prefect transactions: a task that fails once inside a
transaction and then succeeds on retry rolls back the rest at once, and the run ends Completed
with its resources gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec

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


class RemovalOutcome(BaseModel):
    """What became of one removal (the sweep reports one outcome per kind it deleted)."""

    model_config = ConfigDict(frozen=True)

    action: Action
    target: str
    result: Result
    detail: str


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
    made = {name: s.created for name, s in by_step.items()}
    removals: list[Removal] = []
    kept: list[Kept] = []

    def created(name: str, part: str) -> StepResult | None:
        step = by_step.get(name)
        return step if step is not None and part in made[name] else None

    def remove(
        action: Action, target: str, because: str, ids: dict[str, str] | None = None
    ) -> None:
        removals.append(Removal(action=action, target=target, reason=because, ids=ids or {}))

    def said(step: StepResult) -> str:
        return f"{step.step}: {step.summary}"

    ns = spec.namespace
    if step := created("service", "service"):
        remove("delete-service", f"{ns}/{spec.service_name}", said(step))
    if step := created("canary-service", "service"):
        remove("delete-service", f"{ns}/{spec.canary_service_name}", said(step))
    if step := created("nginx", "deployment"):
        remove("delete-deployment", f"{ns}/{spec.deployment_name}", said(step))
    if step := created("namespace", "namespace"):
        remove("delete-namespace", ns, said(step))
    if step := created("bastion-instance", "instance"):
        remove("terminate-bastion", step.ids["instance_id"], said(step))
    if step := created("bastion-security-group", "security-group"):
        remove("delete-bastion-security-group", step.ids["security_group_id"], said(step))
    if step := created("bastion-role", "instance-profile"):
        remove("delete-bastion-instance-profile", step.ids["role"], said(step))
    if step := created("bastion-role", "role"):
        remove("delete-bastion-role", step.ids["role"], said(step))
    if step := created("nlb-permissions", "policy"):
        policy = f"{step.ids['policy']} on {step.ids['role']}"
        remove("remove-nlb-permissions", policy, said(step))

    new_store, cluster = created("state-store", "bucket"), by_step.get("cluster")
    if step := created("cluster", "cluster"):
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


def skip_reason(removal: Removal, earlier: Sequence[RemovalOutcome]) -> str | None:
    """Return why a removal must not be tried given what happened before it, else None.

    The state store is kept when the cluster could not be deleted: kops needs that state to
    delete the cluster later.
    """
    if removal.action == "delete-state-store" and any(
        o.action == "delete-cluster" and o.result == "failed" for o in earlier
    ):
        return "kept: it holds the kops state of the cluster that could not be deleted"
    return None
