"""verify's indicators as events, its trend artifact, and the alerts caused for real on the twin.

Each alert is created as `make up` creates it, then what it watches is made to happen: failing
`verify` runs, a run that finds the objective missed, and no run completing at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from deployments.alerts import FAILING, SILENT, SLO_BREACHED, AlertSettings, ensure_alerts
from flows.provision import provision
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.slo import COMPLETED_EVENT, STREAK_LABEL, SloPolicy, cluster_resource_id
from sandbox.world import World
from tests.e2e.environments import torn_down
from tests.e2e.prefect_runs import artifact, automation_fired, wait_for_firing

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def environment(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """A provisioned environment of its own, torn down after the module."""
    own = spec.model_copy(update={"cluster_name": "trend.k8s.local"})
    with torn_down(own):
        provision(spec=own)
        yield own


@pytest.fixture
def alerts() -> Iterator[Any]:
    """Create the alerts for one test (as `make up` does) and delete them after it."""
    made: list[Any] = []

    def create(settings: AlertSettings) -> dict[str, Any]:
        done = {name: automation_id for name, (automation_id, _) in ensure_alerts(settings).items()}
        made.extend(done.values())
        return done

    yield create
    with get_client(sync_client=True) as prefect:
        for automation_id in made:
            prefect.delete_automation(automation_id)


def completed_events(cluster: str) -> list[Any]:
    selection = EventFilter(
        occurred=EventOccurredFilter.model_validate(
            {"since": datetime.now(UTC) - timedelta(hours=1)}
        ),
        event=EventNameFilter(name=[COMPLETED_EVENT]),
        resource=EventResourceFilter(id=[cluster_resource_id(cluster)]),
    )
    with get_client(sync_client=True) as prefect:
        return list(prefect.read_events(filter=selection, limit=50).events)


def wait_for_completed_events(cluster: str, count: int, within_s: float = 60.0) -> list[Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = completed_events(cluster)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} completed events of {cluster} were stored")


def test_each_run_emits_its_indicators_and_the_trend_shows_the_last_runs(
    environment: EnvironmentSpec,
) -> None:
    first = verify(spec=environment)
    verify(spec=environment)
    events = wait_for_completed_events(environment.cluster_name, 2)
    payload = next(e.payload for e in events if e.payload["token"] == first.token)
    assert payload["passed"] is True
    assert payload["requests"] == payload["succeeded"] == 30  # dns + two zones, 10 each
    assert payload["p50_s"] <= payload["p95_s"]
    assert sorted(payload["zones"]) == sorted(environment.zones)
    assert all(z["requests"] == 10 and z["success_ratio"] == 1.0 for z in payload["zones"].values())
    assert len(payload["addresses"]) == 2  # one per NLB interface
    assert sum(a["requests"] for a in payload["addresses"].values()) == 30

    verify(spec=environment)  # reads the two stored runs back
    report = artifact("verify-trend-trend-k8s-local")
    assert "objective met" in report
    assert (
        len(
            re.findall(
                r"^\| \d{4}-\d\d-\d\d [\d:]+ \| pass \| 30 \| 100\.00% \|", report, re.MULTILINE
            )
        )
        == 3
    )
    assert "| zone " + environment.zones[0] in report and "| address " in report
    assert "data:image/png;base64," in report


def test_failing_runs_in_a_row_page_and_a_pass_between_starts_again(
    environment: EnvironmentSpec, alerts: Any
) -> None:
    failing = alerts(AlertSettings(schedule_interval_s=120, failures_in_a_row=3))[FAILING]
    # Fails before its checks (no such Service), and is on record as a failed run all the same.
    broken = environment.model_copy(update={"service_name": "no-such-service"})
    recorded = len(completed_events(environment.cluster_name))

    def run(spec: EnvironmentSpec, *, fails: bool) -> None:
        nonlocal recorded
        assert verify(spec=spec, return_state=True).is_failed() is fails
        recorded += 1
        wait_for_completed_events(environment.cluster_name, recorded)  # the next run reads it

    for fails in (True, True, False, True, True):
        run(broken if fails else environment, fails=fails)
    time.sleep(10)  # the triggers service has seen every event by now
    assert automation_fired(failing) == []  # four failures, never three in a row
    run(broken, fails=True)
    wait_for_firing(failing)
    streaks = sorted(
        int(e.resource[STREAK_LABEL]) for e in completed_events(environment.cluster_name)
    )
    assert streaks.count(3) == 1 and max(streaks) == 3


def test_an_objective_missed_over_the_window_pages(
    environment: EnvironmentSpec, alerts: Any
) -> None:
    breached = alerts(AlertSettings(schedule_interval_s=120))[SLO_BREACHED]
    verify(spec=environment)
    assert automation_fired(breached) == []
    # The checks still pass: latency above the objective is a trend to page on, not a failure.
    result = verify(spec=environment, slo=SloPolicy(p95_latency_s=0.000001, window_s=3600))
    assert result.passed
    wait_for_firing(breached)
    assert "objective BREACHED" in artifact("verify-trend-trend-k8s-local")


def test_no_verification_for_twice_the_interval_pages(
    environment: EnvironmentSpec, alerts: Any
) -> None:
    silent = alerts(AlertSettings(schedule_interval_s=6))[SILENT]  # silence: 12 s
    verify(spec=environment)
    last = max(e.occurred for e in wait_for_completed_events(environment.cluster_name, 1))
    # No worker runs verify from here on.
    fired = wait_for_firing(silent)
    assert fired >= last + timedelta(seconds=12)
