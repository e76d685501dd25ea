"""Indicators of one run, its event payload read back, and the objective over a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kops_nlb.core.verify.evidence import ProbeResult
from kops_nlb.core.verify.slo import (
    RunRecord,
    Sli,
    SloPolicy,
    completed_payload,
    failing_streak,
    judge_window,
    merge_runs,
    percentile,
    record_from_event,
    run_slis,
)

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def probe(label: str, ip: str | None, time_s: float | None, status: int = 200) -> ProbeResult:
    return ProbeResult(
        label=label,
        seq=1,
        target_index=0,
        token="00aa11bb22cc",
        user_agent="ua",
        path="/",
        status=status,
        remote_ip=ip,
        remote_port=80 if ip else None,
        time_s=time_s,
        curl_exit=0 if status else 7,
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([3.0], 95, 3.0), ([4.0, 1.0, 3.0, 2.0], 50, 2.0), ([*range(1, 21)], 95, 19)],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_slis_per_zone_and_per_address() -> None:
    probes = [
        probe("dns", "10.0.1.10", 0.010),
        probe("dns", "10.0.2.10", 0.030),
        probe("az:ap-northeast-1a", "10.0.1.10", 0.020),
        probe("az:ap-northeast-1c", "10.0.2.10", 0.040),
        probe("az:ap-northeast-1c", None, None, status=0),
    ]
    slis = run_slis(probes)
    assert slis == [
        Sli("all", "all", 5, 4, 0.020, 0.040),
        Sli("zone", "ap-northeast-1a", 1, 1, 0.020, 0.020),
        Sli("zone", "ap-northeast-1c", 2, 1, 0.040, 0.040),
        Sli("address", "10.0.1.10", 2, 2, 0.010, 0.020),
        Sli("address", "10.0.2.10", 2, 2, 0.030, 0.040),
        Sli("address", "unreached", 1, 0, None, None),
    ]
    payload = completed_payload(token="00aa11bb22cc", passed=False, slis=slis)
    assert payload["success_ratio"] == 0.8
    assert payload["zones"]["ap-northeast-1c"]["success_ratio"] == 0.5
    assert record_from_event(NOW, payload) == RunRecord(
        NOW, "00aa11bb22cc", False, 5, 4, 0.02, 0.04
    )


def test_foreign_payloads_are_ignored() -> None:
    assert record_from_event(NOW, {"token": "x"}) is None


def run(minutes_ago: float, succeeded: int, p95: float | None = 0.05, token: str = "") -> RunRecord:
    return RunRecord(
        occurred=NOW - timedelta(minutes=minutes_ago),
        token=token or f"t{minutes_ago}",
        passed=succeeded == 30,
        requests=30,
        succeeded=succeeded,
        p50_s=0.01,
        p95_s=p95,
    )


@pytest.mark.parametrize(
    ("runs", "breach"),
    [
        ([run(10, 30), run(5, 30)], ()),
        # one bad run among many stays within 99%...
        ([run(m, 30) for m in range(1, 11)] + [run(0, 29)], ()),
        # ...but not within a short window
        ([run(10, 30), run(0, 27)], ("success ratio 95.00%",)),
        # outside the window, a bad run no longer counts
        ([run(120, 0), run(0, 30)], ()),
        ([run(10, 30, p95=2.0), run(0, 30, p95=1.0)], ("mean p95 latency 1500 ms",)),
        ([], ("success ratio 0.00% over 0 run(s)",)),
    ],
)
def test_the_objective_is_judged_over_the_window(
    runs: list[RunRecord], breach: tuple[str, ...]
) -> None:
    verdict = judge_window(runs, now=NOW, policy=SloPolicy(window_s=3600))
    assert len(verdict.reasons) == len(breach)
    for reason, expected in zip(verdict.reasons, breach, strict=True):
        assert reason.startswith(expected)


def test_merge_keeps_each_run_once_oldest_first() -> None:
    current = run(0, 30, token="now")
    merged = merge_runs([run(5, 30, token="b"), current, run(10, 30, token="a")], current)
    assert [r.token for r in merged] == ["a", "b", "now"]


@pytest.mark.parametrize(
    ("succeeded", "streak"),
    [
        ([], 0),
        ([30], 0),
        ([0], 1),
        ([0, 0, 0], 3),
        ([0, 0, 30, 0, 0], 2),  # a pass in between starts the streak again
        ([0, 0, 0, 30], 0),
    ],
)
def test_the_failing_streak_counts_back_from_the_last_run(
    succeeded: list[int], streak: int
) -> None:
    runs = [run(len(succeeded) - i, ok) for i, ok in enumerate(succeeded)]
    assert failing_streak(runs) == streak


def test_a_run_that_failed_before_probing_is_a_failed_run_without_requests() -> None:
    payload = completed_payload(token="early", passed=False, slis=run_slis([]))
    record = record_from_event(NOW, payload)
    assert record is not None
    assert (record.passed, record.requests, record.p95_s) == (False, 0, None)
    assert failing_streak([run(5, 30), record]) == 1
