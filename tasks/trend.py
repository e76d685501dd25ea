"""Verification runs as Prefect events, read back as a trend and judged against the objective."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from kops_nlb.core.reports.trend import trend_markdown
from kops_nlb.core.verify.evidence import ProbeResult
from kops_nlb.core.verify.slo import (
    BREACHED_EVENT,
    COMPLETED_EVENT,
    STREAK_LABEL,
    RunRecord,
    SloPolicy,
    WindowVerdict,
    breached_payload,
    cluster_resource_id,
    completed_payload,
    failing_streak,
    judge_window,
    merge_runs,
    record_from_event,
    run_slis,
)

HISTORY_DAYS = 7  # the open-source server keeps events this long by default
PAGE_SIZE = 50  # the API's largest page
MAX_EVENTS = 1000


@dataclass(frozen=True)
class TrendReport:
    """The trend after this run: its markdown and the window's verdict."""

    markdown: str
    verdict: WindowVerdict


@task(name="record-verification", cache_policy=NO_CACHE)
def record_verification(
    *, cluster_name: str, token: str, passed: bool, probes: list[ProbeResult], policy: SloPolicy
) -> TrendReport:
    """Emit this run's indicators, judge the objective over the window, return the trend.

    Emits `kops-nlb.verify.completed` for every run (a run that failed before probing has no
    requests), labelled with the cluster's failing streak, and `kops-nlb.verify.slo-breached`
    when the window misses the objective.
    """
    logger = get_run_logger()
    now = datetime.now(UTC)
    slis = run_slis(probes)
    payload = completed_payload(token=token, passed=passed, slis=slis)
    current = record_from_event(now, payload)
    assert current is not None  # written by completed_payload just above
    runs = merge_runs(_history(cluster_name, since=now - timedelta(days=HISTORY_DAYS)), current)
    resource = {
        "prefect.resource.id": cluster_resource_id(cluster_name),
        "prefect.resource.name": cluster_name,
        STREAK_LABEL: str(failing_streak(runs)),
    }
    emit_event(COMPLETED_EVENT, resource=resource, occurred=now, payload=payload)
    verdict = judge_window(runs, now=now, policy=policy)
    if verdict.breached:
        emit_event(
            BREACHED_EVENT,
            resource=resource,
            occurred=now,
            payload=breached_payload(verdict, policy),
        )
        logger.warning("SLO breached over the window: %s", "; ".join(verdict.reasons))
    else:
        logger.info(
            "SLO met over the window: %d run(s), %.2f%% succeeded",
            verdict.runs,
            100 * verdict.success_ratio,
        )
    recent = runs[-policy.trend_runs :]
    return TrendReport(
        markdown=trend_markdown(
            cluster_name=cluster_name, runs=recent, slis=slis, verdict=verdict, policy=policy
        ),
        verdict=verdict,
    )


def _history(cluster_name: str, *, since: datetime) -> list[RunRecord]:
    """Return the runs the Prefect API has kept for this cluster since `since`."""
    selection = EventFilter(
        occurred=EventOccurredFilter.model_validate({"since": since}),
        event=EventNameFilter(name=[COMPLETED_EVENT]),
        resource=EventResourceFilter(id=[cluster_resource_id(cluster_name)]),
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=selection, limit=PAGE_SIZE)
        events = list(page.events)
        while page.next_page is not None and len(events) < MAX_EVENTS:
            page = client.read_events_page(str(page.next_page))
            events += page.events
    records = (record_from_event(e.occurred, e.payload) for e in events)
    return [r for r in records if r is not None]
