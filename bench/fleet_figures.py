"""The fleet scenario's figures: per fleet size, and the wall ratio with the why of a miss (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.stats import summarize

if TYPE_CHECKING:
    from bench.fleet import FleetRound, FleetSample

# What calls per environment may drift by between fleet sizes and still count as linear growth.
LINEAR_TOLERANCE = 0.25
RUN_PHASES = (
    ("queued_s", "created until the worker picked it up (its query interval, its loop)"),
    ("starting_s", "picked up until Running: a Python process, imports, the flow loaded"),
    ("running_s", "Running until the end: the verification itself"),
)


def _d(values: Sequence[float | None], digits: int = 3) -> dict[str, object] | None:
    summary = summarize(values)
    return None if summary is None else summary.as_dict(digits)


def run_phases(round_: FleetRound) -> dict[str, float]:
    """Return the median over a round's runs of each of `RUN_PHASES`."""
    phases = {
        "queued_s": [r.pending - r.created for r in round_.runs],
        "starting_s": [r.running - r.pending for r in round_.runs],
        "running_s": [r.ended - r.running for r in round_.runs],
    }
    return {k: statistics.median(v) for k, v in phases.items()}


def size_figures(rounds: Sequence[FleetRound]) -> dict[str, Any]:
    """Return the figures of the rounds of one fleet size (medians over rounds)."""
    size = rounds[0].size
    phases = [run_phases(r) for r in rounds]
    peaks = [p for r in rounds for p in r.peak_rss_mib]
    return {
        "environments": size,
        "wall_s": _d([r.wall for r in rounds]),
        "calls": _d([r.calls for r in rounds], 0),
        "calls_per_environment": _d([r.calls / size for r in rounds], 1),
        "calls_per_minute": _d([r.calls * 60.0 / r.wall for r in rounds], 1),
        "calls_per_environment_by_operation_round1": {
            k: round(v / size, 1) for k, v in rounds[0].calls_by_operation.items()
        },
        "flow_cpu_s": _d([r.flow_cpu_s for r in rounds], 2),
        "flow_cpu_per_environment_s": _d([r.flow_cpu_s / size for r in rounds], 2),
        "worker_cpu_s": _d([r.worker_cpu_s for r in rounds], 2),
        "twin_and_server_cpu_s": _d([r.twin_cpu_s for r in rounds], 2),
        "peak_rss_per_environment_mib": _d(peaks, 1),
        "most_rss_at_once_mib": _d([r.most_rss_at_once_mib for r in rounds], 1),
        "run_phases_s": {key: _d([p[key] for p in phases]) for key, _ in RUN_PHASES},
        "last_started_after_s": _d(
            [max(x.running for x in r.runs) - min(x.created for x in r.runs) for r in rounds]
        ),
    }


def _median(figure: dict[str, Any] | None) -> float | None:
    return None if not figure else float(figure["median"])


def wall_ratio(sizes: dict[int, dict[str, Any]], size: int) -> float | None:
    """Return the median wall of `size` environments over that of one, or None."""
    one, many = sizes.get(1), sizes.get(size)
    if one is None or many is None:
        return None
    base, wall = _median(one["wall_s"]), _median(many["wall_s"])
    return None if not base or wall is None else wall / base


def calls_linear(sizes: dict[int, dict[str, Any]]) -> bool:
    """Whether the calls per environment of every size stay within `LINEAR_TOLERANCE` of one's."""
    base = _median(sizes.get(1, {}).get("calls_per_environment"))
    if not base:
        return False
    per_env = [_median(s["calls_per_environment"]) for s in sizes.values()]
    return all(v is not None and abs(v / base - 1.0) <= LINEAR_TOLERANCE for v in per_env)


def nonlinear_calls(sizes: dict[int, dict[str, Any]]) -> str:
    """Return which operations' calls per environment moved most from one environment's."""
    top = max(sizes)
    one = sizes[1]["calls_per_environment_by_operation_round1"]
    many = sizes[top]["calls_per_environment_by_operation_round1"]
    moved = sorted(
        ((op, one.get(op, 0.0), many.get(op, 0.0)) for op in {*one, *many}),
        key=lambda item: -abs(item[2] - item[1]),
    )[:3]
    changes = ", ".join(f"{op} {a:g} -> {b:g}" for op, a, b in moved)
    return (
        f"Calls per environment did not stay within {LINEAR_TOLERANCE:.0%} of one's "
        f"({_median(sizes[1]['calls_per_environment']):.0f} alone, "
        f"{_median(sizes[top]['calls_per_environment']):.0f} at {top}; most moved, per "
        f"environment in round 1: {changes}): the waits inside the verification poll on a "
        "clock, so a slower run makes more looks."
    )


def why_missed(sizes: dict[int, dict[str, Any]], size: int, cpus: int) -> str:
    """Return the measured breakdown of the ratio at `size`, and the next lever."""
    one, many = sizes[1], sizes[size]
    ph1 = {k: _median(v) or 0.0 for k, v in one["run_phases_s"].items()}
    phn = {k: _median(v) or 0.0 for k, v in many["run_phases_s"].items()}
    cpu_env = _median(many["flow_cpu_per_environment_s"]) or 0.0
    cpu_fleet = _median(many["flow_cpu_s"]) or 0.0
    twin = _median(many["twin_and_server_cpu_s"]) or 0.0
    wall = _median(many["wall_s"]) or 0.0
    floor = (cpu_fleet + twin) / max(cpus, 1)
    bound = (
        f"{floor / wall:.0%} of the {wall:.0f} s wall: the wall is bounded by CPU, not waiting"
        if wall and floor >= 0.7 * wall
        else f"{floor / wall:.0%} of the {wall:.0f} s wall: the rest is waiting"
        if wall
        else "the wall was not measured"
    )
    return (
        f"{size} at once took {_median(many['wall_s']):.1f} s against "
        f"{_median(one['wall_s']):.1f} s for one. Per flow run (median), one alone vs "
        f"{size} at once: queued {ph1['queued_s']:.1f} vs {phn['queued_s']:.1f} s, process "
        f"start to Running {ph1['starting_s']:.1f} vs {phn['starting_s']:.1f} s, verification "
        f"{ph1['running_s']:.1f} vs {phn['running_s']:.1f} s. Each flow-run process used "
        f"{cpu_env:.1f} CPU-s ({cpu_fleet:.0f} CPU-s for the fleet), and the twins and the "
        f"Prefect server {twin:.0f} CPU-s more: on {cpus} cores the round needs at least "
        f"{floor:.0f} s of CPU whatever the concurrency, {bound}. The next lever is CPU per "
        "environment: the process pool starts an interpreter and imports Prefect, boto3, "
        "kubernetes and the flow for every run; verifying the fleet's environments as task runs "
        "of one flow run (one process, imports paid once), then the verification's own CPU "
        "(discovery's kops process and clients per run)."
    )


def left_out(sizes: Sequence[int], per_environment_mib: float, memory_mib: float) -> str:
    """Return why 30 environments were not verified, when they were not (their twins' memory)."""
    if 30 in sizes or per_environment_mib <= 0:
        return ""
    needed = 30 * per_environment_mib / 1024
    return (
        f"30 environments were left out: each environment's twin holds {per_environment_mib:.0f}"
        f" MiB (measured above), so 30 would need about {needed:.0f} GiB against this "
        f"machine's {memory_mib / 1024:.0f} GiB, which other work shares. The flow-run side "
        "scales by the per-run figures in the table."
    )


def fleet_figures(
    sample: FleetSample | None, *, cpus: int, memory_mib: float = 0.0, error: str = ""
) -> dict[str, Any]:
    """Return the fleet section of BENCHMARKS.json (`wall_ratio_10` feeds the target)."""
    if sample is None or not sample.rounds:
        return {
            "wall_ratio_10": None,
            "why": f"not measured: {error}"
            if error
            else "not measured: the fleet scenario did not run (--fleet-sizes 0).",
        }
    sizes = {
        size: size_figures([r for r in sample.rounds if r.size == size]) for size in sample.sizes
    }
    ratios = {f"wall_ratio_{n}": wall_ratio(sizes, n) for n in sample.sizes if n != 1}
    top = max(sample.sizes)
    linear = calls_linear(sizes)
    figures: dict[str, Any] = {
        "sizes": list(sample.sizes),
        "by_size": {str(n): s for n, s in sizes.items()},
        **{k: None if v is None else round(v, 3) for k, v in ratios.items()},
        "calls_grow_linearly": linear,
        "setup_s": round(sample.setup_s, 1),
        "twin_rss_per_environment_mib": round(
            (sample.twin_rss_after_mib - sample.twin_rss_before_mib) / top, 1
        ),
        "worker_query_seconds": sample.query_seconds,
    }
    figures["left_out"] = left_out(
        sample.sizes, figures["twin_rss_per_environment_mib"], memory_mib
    )
    figures["wall_ratio_10"] = ratios.get("wall_ratio_10")
    if 10 in sizes:
        figures["why"] = why_missed(sizes, 10, cpus)
    else:
        figures["why"] = f"not measured: this run's fleet sizes were {list(sample.sizes)}."
    if not linear:
        figures["why"] += " " + nonlinear_calls(sizes)
    return figures
