"""What teardown reports: per kind deleted or already gone, what was left and why (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kops_nlb.core.errors import KopsNlbError, TransientError
from kops_nlb.core.ownership import NOUNS
from kops_nlb.core.results import StepResult


@dataclass(frozen=True)
class Failure:
    """One resource that could not be deleted, and why."""

    kind: str
    id: str
    reason: str
    transient: bool = False

    def __str__(self) -> str:
        return f"{NOUNS.get(self.kind, self.kind)} {self.id}: {self.reason}"


class TeardownIncomplete(KopsNlbError):
    """Some resources could not be deleted; the message names each one and why."""

    def __init__(self, what: str, failures: Sequence[Failure]) -> None:
        self.failures = tuple(failures)
        super().__init__(incomplete_message(what, failures))


class TransientTeardownIncomplete(TeardownIncomplete, TransientError):
    """Every failure was transient (throttling, server trouble): retrying the task may finish."""


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
        step=kind.replace("_", "-"),
        changed=False,
        left=True,
        summary=f"left {noun} {resource_id}: {reason}",
        ids={"kind": kind, "id": resource_id},
    )


def incomplete_message(what: str, failures: Sequence[Failure]) -> str:
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
