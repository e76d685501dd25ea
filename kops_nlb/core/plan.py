"""What a plan says about each resource, and the plan as a whole (pure).

Every step of ``provision`` decides with one pure function (``decide_*`` in ``plan_aws``,
``plan_kube`` and ``plan_cluster``) that returns a typed decision: what to do, and the
``PlanItem`` a person reads. The ``plan`` flow stops at the item; ``provision`` acts on the
decision. So a plan cannot promise what apply would not do.

Statuses, in the words a person reads:

- ``exists``: as wanted; apply writes nothing.
- ``will create``: missing; apply (or kops, or the cloud controller) makes it.
- ``will change``: there but different; ``changes`` lists each field, current → wanted.
- ``blocked``: apply would stop here; ``reason`` says why (a precondition that fails).
- ``unknown``: the plan could not look (the cluster's API did not answer); ``reason`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.plan_cost import CostEstimate

Status = Literal["exists", "will create", "will change", "blocked", "unknown"]
STATUSES: tuple[Status, ...] = ("exists", "will create", "will change", "blocked", "unknown")
ABSENT = "(none)"


class FieldChange(BaseModel):
    """One field that apply sets: its value now and the value it will have."""

    model_config = ConfigDict(frozen=True)

    field: str
    current: str
    wanted: str


class PlanItem(BaseModel):
    """One resource of the plan: its status, the field-level diff, and why when blocked."""

    model_config = ConfigDict(frozen=True)

    step: str
    resource: str
    status: Status
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def to_do(self) -> bool:
        """Whether apply would write something for this resource (or stop at it)."""
        return self.status != "exists"


class Precondition(BaseModel):
    """A check that must pass before apply writes anything (region, zones, kops version)."""

    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str


class Plan(BaseModel):
    """The whole plan: preconditions, the items in the order apply takes, a rough cost."""

    model_config = ConfigDict(frozen=True)

    cluster_name: str
    region: str
    preconditions: tuple[Precondition, ...] = ()
    items: tuple[PlanItem, ...] = ()
    cost: CostEstimate | None = None

    @property
    def nothing_to_do(self) -> bool:
        """Whether apply would write nothing: every resource exists and every check passes."""
        return all(p.ok for p in self.preconditions) and not any(i.to_do for i in self.items)

    @property
    def blocked(self) -> tuple[PlanItem, ...]:
        """The items apply would stop at."""
        return tuple(i for i in self.items if i.status == "blocked")

    def counts(self) -> dict[Status, int]:
        """Return how many items have each status (every status, zero included)."""
        return {s: sum(1 for i in self.items if i.status == s) for s in STATUSES}

    def item(self, step: str) -> PlanItem:
        """Return the item of a step; KeyError when the plan has none."""
        for found in self.items:
            if found.step == step:
                return found
        raise KeyError(step)


def shown(value: object) -> str:
    """Return a value as a plan shows it: ``(none)`` for nothing, else its text."""
    if value is None or value == "" or value == {} or value == []:
        return ABSENT
    return str(value)


def change(field: str, current: object, wanted: object) -> FieldChange:
    """Return the FieldChange of one field."""
    return FieldChange(field=field, current=shown(current), wanted=shown(wanted))


def tag_changes(current: Mapping[str, str], wanted: Mapping[str, str]) -> tuple[FieldChange, ...]:
    """Return one change per wanted tag that is missing or has another value, by key."""
    return tuple(
        change(f"tag {key}", current.get(key), value)
        for key, value in sorted(wanted.items())
        if current.get(key) != value
    )


def blocked_item(step: str, resource: str, reason: str) -> PlanItem:
    """Return an item apply would stop at, and why."""
    return PlanItem(step=step, resource=resource, status="blocked", reason=reason)


def unknown_item(step: str, resource: str, reason: str) -> PlanItem:
    """Return an item the plan could not look at, and why."""
    return PlanItem(step=step, resource=resource, status="unknown", reason=reason)


def block_all(items: Iterable[PlanItem], reason: str) -> tuple[PlanItem, ...]:
    """Return the items all blocked by one failed precondition (not described: no diff)."""
    update = {"status": "blocked", "reason": reason, "changes": (), "notes": ()}
    return tuple(i.model_copy(update=update) for i in items)


def status_of(*, exists: bool, changes: Iterable[FieldChange]) -> Status:
    """Return ``will create`` when absent, else ``will change`` with changes, else ``exists``."""
    if not exists:
        return "will create"
    return "will change" if tuple(changes) else "exists"
