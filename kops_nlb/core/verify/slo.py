"""Service-level indicators of a verification run, and the objective judged over a window (pure).

Each run measures, from the probe's own requests: the success ratio (answered 200) and the
latency p50/p95 (curl's total time), for all requests, per zone (the requests pinned to that
zone's address) and per NLB address (where each request, DNS-resolved or pinned, went). Runs
are published as events whose payload these functions write and read back; the objective is
judged over every run of the window, the way synthetic monitoring judges a trend rather than
one probe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kops_nlb.core.verify.evidence import ProbeResult

COMPLETED_EVENT = "kops-nlb.verify.completed"
BREACHED_EVENT = "kops-nlb.verify.slo-breached"
RESOURCE_PREFIX = "kops-nlb.cluster."
STREAK_LABEL = "kops-nlb.failing-streak"
"""Resource label of a completed event: how many runs in a row, this one last, failed."""
ZONE_LABEL_PREFIX = "az:"


class SloPolicy(BaseModel):
    """The objective: success ratio and p95 latency over a window of runs, and the trend's size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    success_ratio: float = Field(default=0.99, gt=0, le=1)
    p95_latency_s: float = Field(default=1.0, gt=0, le=60)
    window_s: int = Field(default=6 * 3600, ge=60, le=30 * 86400)
    trend_runs: int = Field(default=20, ge=2, le=50)


@dataclass(frozen=True)
class Sli:
    """Requests of one scope (all, a zone, an NLB address): how many succeeded, how fast."""

    scope: str  # "all", "zone" or "address"
    key: str
    requests: int
    succeeded: int
    p50_s: float | None
    p95_s: float | None

    @property
    def success_ratio(self) -> float:
        """The share of requests that succeeded (1.0 when there were none)."""
        return self.succeeded / self.requests if self.requests else 1.0


@dataclass(frozen=True)
class RunRecord:
    """One verification run as its completed event tells it."""

    occurred: datetime
    token: str
    passed: bool
    requests: int
    succeeded: int
    p50_s: float | None
    p95_s: float | None

    @property
    def success_ratio(self) -> float:
        """The share of the run's requests that succeeded."""
        return self.succeeded / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class WindowVerdict:
    """The objective judged over the runs of one window."""

    runs: int
    requests: int
    succeeded: int
    mean_p95_s: float | None
    reasons: tuple[str, ...]

    @property
    def success_ratio(self) -> float:
        """The share of the window's requests that succeeded."""
        return self.succeeded / self.requests if self.requests else 0.0

    @property
    def breached(self) -> bool:
        """Whether the window misses the objective."""
        return bool(self.reasons)


def cluster_resource_id(cluster_name: str) -> str:
    """Return the event resource id of a cluster's verification."""
    return f"{RESOURCE_PREFIX}{cluster_name}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the nearest-rank `q` percentile (0-100) of `values`, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _sli(scope: str, key: str, probes: Sequence[ProbeResult]) -> Sli:
    times = [p.time_s for p in probes if p.ok and p.time_s is not None]
    return Sli(
        scope=scope,
        key=key,
        requests=len(probes),
        succeeded=sum(1 for p in probes if p.ok),
        p50_s=percentile(times, 50),
        p95_s=percentile(times, 95),
    )


def run_slis(probes: Sequence[ProbeResult]) -> list[Sli]:
    """Return the run's indicators: all requests, then per zone, then per NLB address."""
    zones: dict[str, list[ProbeResult]] = {}
    addresses: dict[str, list[ProbeResult]] = {}
    for probe in probes:
        if probe.label.startswith(ZONE_LABEL_PREFIX):
            zones.setdefault(probe.label.removeprefix(ZONE_LABEL_PREFIX), []).append(probe)
        addresses.setdefault(probe.remote_ip or "unreached", []).append(probe)
    return (
        [_sli("all", "all", probes)]
        + [_sli("zone", zone, zones[zone]) for zone in sorted(zones)]
        + [_sli("address", address, addresses[address]) for address in sorted(addresses)]
    )


def _sli_payload(sli: Sli) -> dict[str, Any]:
    return {
        "requests": sli.requests,
        "succeeded": sli.succeeded,
        "success_ratio": round(sli.success_ratio, 4),
        "p50_s": sli.p50_s,
        "p95_s": sli.p95_s,
    }


def completed_payload(*, token: str, passed: bool, slis: Sequence[Sli]) -> dict[str, Any]:
    """Return the payload of a run's completed event."""
    overall = next(s for s in slis if s.scope == "all")
    return {
        "token": token,
        "passed": passed,
        **_sli_payload(overall),
        "zones": {s.key: _sli_payload(s) for s in slis if s.scope == "zone"},
        "addresses": {s.key: _sli_payload(s) for s in slis if s.scope == "address"},
    }


def record_from_event(occurred: datetime, payload: Mapping[str, Any]) -> RunRecord | None:
    """Read a run back from its completed event; None when the payload is not one of ours."""
    try:
        return RunRecord(
            occurred=occurred,
            token=str(payload["token"]),
            passed=bool(payload["passed"]),
            requests=int(payload["requests"]),
            succeeded=int(payload["succeeded"]),
            p50_s=_optional_float(payload.get("p50_s")),
            p95_s=_optional_float(payload.get("p95_s")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))


def merge_runs(history: Iterable[RunRecord], current: RunRecord) -> list[RunRecord]:
    """Return the runs oldest first, the current one last and never twice."""
    earlier = {r.token: r for r in history if r.token != current.token}
    return [*sorted(earlier.values(), key=lambda r: r.occurred), current]


def failing_streak(runs: Sequence[RunRecord]) -> int:
    """Return how many of the runs (oldest first), counted back from the last, failed in a row."""
    streak = 0
    for run in reversed(runs):
        if run.passed:
            break
        streak += 1
    return streak


def judge_window(runs: Sequence[RunRecord], *, now: datetime, policy: SloPolicy) -> WindowVerdict:
    """Judge the objective over the runs of the last `policy.window_s` seconds."""
    since = now - timedelta(seconds=policy.window_s)
    window = [r for r in runs if r.occurred >= since]
    requests = sum(r.requests for r in window)
    succeeded = sum(r.succeeded for r in window)
    p95s = [r.p95_s for r in window if r.p95_s is not None]
    mean_p95 = sum(p95s) / len(p95s) if p95s else None
    reasons = []
    ratio = succeeded / requests if requests else 0.0
    if ratio < policy.success_ratio:
        reasons.append(
            f"success ratio {ratio:.2%} over {len(window)} run(s) is below the objective "
            f"{policy.success_ratio:.2%}"
        )
    if mean_p95 is not None and mean_p95 > policy.p95_latency_s:
        reasons.append(
            f"mean p95 latency {mean_p95 * 1000:.0f} ms is above the objective "
            f"{policy.p95_latency_s * 1000:.0f} ms"
        )
    return WindowVerdict(
        runs=len(window),
        requests=requests,
        succeeded=succeeded,
        mean_p95_s=mean_p95,
        reasons=tuple(reasons),
    )


def breached_payload(verdict: WindowVerdict, policy: SloPolicy) -> dict[str, Any]:
    """Return the payload of an SLO-breached event."""
    return {
        "window_s": policy.window_s,
        "runs": verdict.runs,
        "success_ratio": round(verdict.success_ratio, 4),
        "mean_p95_s": verdict.mean_p95_s,
        "objective_success_ratio": policy.success_ratio,
        "objective_p95_latency_s": policy.p95_latency_s,
        "reasons": list(verdict.reasons),
    }
