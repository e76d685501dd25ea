"""The alert automation is created once, then updated in place, against a real Prefect API."""

from __future__ import annotations

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client

from deployments.automation import ALERT_EVENTS, AUTOMATION_NAME, ensure_verification_alert

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def webhook_block() -> str:
    CustomWebhookNotificationBlock(
        name="oncall", url="http://127.0.0.1:9/hook", json_data={"text": "{{body}}"}
    ).save("oncall-hook", overwrite=True)
    return "custom-webhook/oncall-hook"


def automations() -> list:  # type: ignore[type-arg]
    with get_client(sync_client=True) as client:
        return client.read_automations_by_name(AUTOMATION_NAME)


def test_alert_is_created_then_updated_not_duplicated(webhook_block: str) -> None:
    first_id, created = ensure_verification_alert(webhook_block)
    assert created
    second_id, created_again = ensure_verification_alert(webhook_block)
    assert not created_again
    assert second_id == first_id
    found = automations()
    assert [a.id for a in found] == [first_id]
    trigger = found[0].trigger
    assert set(trigger.expect) == ALERT_EVENTS
    assert trigger.match_related.get("prefect.resource.name") == ["verify"]
    assert found[0].actions[0].type == "send-notification"


def test_an_unknown_block_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="<type>/<name>"):
        ensure_verification_alert("no-slash")
