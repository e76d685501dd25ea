"""Alert on failed scheduled verifications: an automation, created or updated in place.

`python -m deployments.automation --block slack-webhook/oncall` makes (or updates) one
automation that sends a notification through the named notification block whenever a `verify`
flow run ends Failed, Crashed or TimedOut. Running it again changes nothing else: Prefect's
`Automation.create()` is not idempotent, so the automation is looked up by name first.
"""

from __future__ import annotations

import argparse
import sys
from uuid import UUID

from prefect.automations import EventTrigger, Posture, SendNotification
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore

AUTOMATION_NAME = "kops-nlb-flows: verification failed"
ALERT_EVENTS = frozenset(
    {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}
)
ALERT_BODY = (
    "Verification of the internal NLB's client-IP preservation ended "
    "{{ event.resource['prefect.state-name'] }}: flow run {{ flow_run.name }} "
    "({{ flow_run|ui_url }}). {{ flow_run.state.message }}"
)


def verification_alert(*, block_document_id: UUID, flow_name: str = "verify") -> AutomationCore:
    """Return the automation (not yet saved) that notifies on bad `flow_name` runs."""
    return AutomationCore(
        name=AUTOMATION_NAME,
        description=f"Notify when a `{flow_name}` run fails, crashes or times out.",
        enabled=True,
        trigger=EventTrigger(
            expect=set(ALERT_EVENTS),
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_document_id,
                subject=f"{flow_name} failed: client-IP preservation not proven",
                body=ALERT_BODY,
            )
        ],
    )


def ensure_verification_alert(block: str, *, flow_name: str = "verify") -> tuple[UUID, bool]:
    """Create the alert automation, or update the one of that name; return its id and whether
    it was created. `block` is `<block type slug>/<block name>`."""
    block_type, _, block_name = block.partition("/")
    if not block_name:
        raise ValueError(
            f"block {block!r} must be given as <type>/<name>, e.g. slack-webhook/oncall"
        )
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(block_name, block_type_slug=block_type)
        desired = verification_alert(block_document_id=document.id, flow_name=flow_name)
        existing = client.read_automations_by_name(AUTOMATION_NAME)
        if not existing:
            return client.create_automation(desired), True
        client.update_automation(existing[0].id, desired)
        for duplicate in existing[1:]:  # left by an earlier non-idempotent create
            client.delete_automation(duplicate.id)
        return existing[0].id, False


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m deployments.automation --block TYPE/NAME`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--block", required=True, help="notification block, e.g. slack-webhook/oncall"
    )
    parser.add_argument(
        "--flow", default="verify", help="flow whose failures alert (default verify)"
    )
    args = parser.parse_args(argv)
    automation_id, created = ensure_verification_alert(args.block, flow_name=args.flow)
    print(f"{'created' if created else 'updated'} automation {AUTOMATION_NAME!r} ({automation_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
