"""The verification's alerts, as synthetic monitoring pages: on a failing streak, on a breached
objective, and on silence. Created (or updated in place, by name) by `make up`.

- failing: a cluster's `verify` runs failed `failures_in_a_row` times in a row (a passing run
  resets the streak; each completed event carries the cluster's streak), never one flaky run;
  a run that crashed or timed out says nothing, and the silence alert covers a run that never
  completes;
- SLO breached: a run found the objective missed over its window (`kops-nlb.verify.slo-breached`,
  emitted by `verify` from the trend of its runs);
- silent: no verification completed (`kops-nlb.verify.completed`) within twice the schedule
  interval: a dead worker or a stuck pool is an outage of the monitoring itself.

With a notification block (`--block slack-webhook/oncall`) each alert sends through it;
without one the automations still fire, and the UI's event feed shows it
(`prefect.automation.triggered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.automations import DoNothing, EventTrigger, Posture, SendNotification
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore

from kops_nlb.core.verify.slo import (
    BREACHED_EVENT,
    COMPLETED_EVENT,
    RESOURCE_PREFIX,
    STREAK_LABEL,
)

FAILING = "kops-nlb-flows: verification failing"
SLO_BREACHED = "kops-nlb-flows: verification SLO breached"
SILENT = "kops-nlb-flows: verification silent"
MIN_PROACTIVE_WITHIN_S = 10.0  # Prefect's floor for an absence window


@dataclass(frozen=True)
class AlertSettings:
    """How the alerts are tuned: the streak that pages, and the verification's schedule."""

    schedule_interval_s: float
    failures_in_a_row: int = 3
    flow_name: str = "verify"

    def __post_init__(self) -> None:
        if self.failures_in_a_row < 2:
            raise ValueError("failures_in_a_row must be at least 2: one flaky run never pages")
        if self.schedule_interval_s * 2 < MIN_PROACTIVE_WITHIN_S:
            raise ValueError(
                f"schedule interval {self.schedule_interval_s:g} s is too short: silence is "
                f"judged over twice of it, and Prefect needs at least {MIN_PROACTIVE_WITHIN_S:g} s"
            )


def _actions(block_document_id: UUID | None, subject: str, body: str) -> list[Any]:
    if block_document_id is None:
        return [DoNothing()]
    return [SendNotification(block_document_id=block_document_id, subject=subject, body=body)]


def verification_alerts(
    settings: AlertSettings, *, block_document_id: UUID | None = None
) -> list[AutomationCore]:
    """Return the three alert automations (not yet saved)."""
    interval = timedelta(seconds=settings.schedule_interval_s)
    streak = settings.failures_in_a_row
    flow = settings.flow_name
    return [
        AutomationCore(
            name=FAILING,
            description=f"A cluster's `{flow}` runs failed {streak} times in a row.",
            trigger=EventTrigger(
                expect={COMPLETED_EVENT},
                match={"prefect.resource.id": f"{RESOURCE_PREFIX}*", STREAK_LABEL: str(streak)},
                for_each={"prefect.resource.id"},
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            actions=_actions(
                block_document_id,
                f"{flow} failed {streak} times in a row",
                "{{ event.resource['prefect.resource.name'] }}: "
                f"{streak} `{flow}` runs in a row did not prove client-IP preservation.",
            ),
        ),
        AutomationCore(
            name=SLO_BREACHED,
            description="A verification found the objective missed over its window.",
            trigger=EventTrigger(
                expect={BREACHED_EVENT},
                match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
                for_each={"prefect.resource.id"},
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            actions=_actions(
                block_document_id,
                "NLB verification SLO breached",
                "{{ event.resource['prefect.resource.name'] }}: "
                "{{ event.payload['reasons'] | join('; ') }}",
            ),
        ),
        AutomationCore(
            name=SILENT,
            description=f"No `{flow}` run completed within {2 * interval}.",
            trigger=EventTrigger(
                expect={COMPLETED_EVENT},
                match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
                posture=Posture.Proactive,
                threshold=1,
                within=interval * 2,
            ),
            actions=_actions(
                block_document_id,
                "NLB verification silent",
                f"No verification completed in {2 * interval}: is the worker polling?",
            ),
        ),
    ]


def ensure_alerts(
    settings: AlertSettings, *, block: str | None = None
) -> dict[str, tuple[UUID, bool]]:
    """Create each alert, or update the one of that name; return name -> (id, created).

    `block` is `<block type slug>/<block name>` of a notification block, or None.
    """
    with get_client(sync_client=True) as client:
        block_id = None
        if block is not None:
            block_type, _, block_name = block.partition("/")
            if not block_name:
                raise ValueError(f"block {block!r} must be given as <type>/<name>")
            block_id = client.read_block_document_by_name(block_name, block_type_slug=block_type).id
        done: dict[str, tuple[UUID, bool]] = {}
        for desired in verification_alerts(settings, block_document_id=block_id):
            existing = client.read_automations_by_name(desired.name)
            if not existing:
                done[desired.name] = (client.create_automation(desired), True)
                continue
            client.update_automation(existing[0].id, desired)
            for duplicate in existing[1:]:  # left by an earlier non-idempotent create
                client.delete_automation(duplicate.id)
            done[desired.name] = (existing[0].id, False)
    return done
