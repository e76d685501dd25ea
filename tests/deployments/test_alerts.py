"""The verification's alerts: what each watches, tuned to the schedule, saved once and updated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client

from deployments.alerts import (
    FAILING,
    SILENT,
    SLO_BREACHED,
    AlertSettings,
    ensure_alerts,
    verification_alerts,
)
from deployments.stack.prefect_file import local_schedule_interval
from kops_nlb.core.verify.slo import BREACHED_EVENT, COMPLETED_EVENT, STREAK_LABEL

ROOT = Path(__file__).resolve().parents[2]


def by_name(settings: AlertSettings) -> dict[str, Any]:
    return {a.name: a for a in verification_alerts(settings)}


def test_a_failing_streak_pages_once_a_clusters_streak_reaches_its_length() -> None:
    failing = by_name(AlertSettings(schedule_interval_s=300, failures_in_a_row=4))[FAILING]
    trigger = failing.trigger
    assert set(trigger.expect) == {COMPLETED_EVENT}
    assert trigger.match.get(STREAK_LABEL) == ["4"]
    assert trigger.for_each == {"prefect.resource.id"}
    assert (trigger.posture, trigger.threshold) == ("Reactive", 1)


def test_a_breach_pages_per_cluster_and_silence_is_twice_the_interval() -> None:
    alerts = by_name(AlertSettings(schedule_interval_s=300))
    breached, silent = alerts[SLO_BREACHED].trigger, alerts[SILENT].trigger
    assert set(breached.expect) == {BREACHED_EVENT}
    assert breached.for_each == {"prefect.resource.id"}
    assert set(silent.expect) == {COMPLETED_EVENT}
    assert (silent.posture, silent.threshold) == ("Proactive", 1)
    assert silent.within == timedelta(seconds=600)
    assert all(a.actions[0].type == "do-nothing" for a in alerts.values())


@pytest.mark.parametrize(
    "settings",
    [{"schedule_interval_s": 300, "failures_in_a_row": 1}, {"schedule_interval_s": 4}],
    ids=str,
)
def test_settings_that_would_page_on_one_run_or_cannot_be_judged_are_refused(
    settings: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        AlertSettings(**settings)


def test_make_up_tunes_the_alerts_to_the_verify_local_schedule() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert local_schedule_interval(config, "flows/verify.py") == 300
    assert local_schedule_interval(config, "flows/provision.py") is None


@pytest.mark.usefixtures("prefect_harness")
def test_alerts_are_created_once_then_updated_with_a_notification_block() -> None:
    CustomWebhookNotificationBlock(
        name="oncall", url="http://127.0.0.1:9/hook", json_data={"text": "{{body}}"}
    ).save("alerts-hook", overwrite=True)
    settings = AlertSettings(schedule_interval_s=300)
    first = ensure_alerts(settings)
    again = ensure_alerts(settings, block="custom-webhook/alerts-hook")
    assert all(created for _, created in first.values())
    assert {n: i for n, (i, _) in again.items()} == {n: i for n, (i, _) in first.items()}
    assert not any(created for _, created in again.values())
    with get_client(sync_client=True) as client:
        for name, (automation_id, _) in again.items():
            (found,) = client.read_automations_by_name(name)
            assert found.id == automation_id
            assert found.actions[0].type == "send-notification"
            client.delete_automation(automation_id)
