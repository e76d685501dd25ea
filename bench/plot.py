"""The fleet scenario's plot (a PNG next to BENCHMARKS.md), drawn from BENCHMARKS.json's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FLEET_PNG = "BENCHMARKS-fleet.png"


def _median(figure: dict[str, Any] | None) -> float:
    return float(figure["median"]) if figure else float("nan")


def fleet_series(fleet: dict[str, Any]) -> dict[str, list[float]]:
    """Return the plotted series, one value per fleet size in ascending order (pure)."""
    by_size = fleet.get("by_size") or {}
    sizes = sorted(int(n) for n in by_size)
    rows = [by_size[str(n)] for n in sizes]
    base_wall = _median(rows[0]["wall_s"]) if rows else float("nan")
    base_calls = _median(rows[0]["calls_per_minute"]) if rows else float("nan")
    return {
        "sizes": [float(n) for n in sizes],
        "wall_s": [_median(r["wall_s"]) for r in rows],
        "goal_wall_s": [base_wall * 1.5 if n > 1 else base_wall for n in sizes],
        "calls_per_minute": [_median(r["calls_per_minute"]) for r in rows],
        "linear_calls_per_minute": [base_calls * n for n in sizes],
        "cpu_per_environment_s": [_median(r["flow_cpu_per_environment_s"]) for r in rows],
        "peak_rss_per_environment_mib": [_median(r["peak_rss_per_environment_mib"]) for r in rows],
    }


def write_fleet_plot(fleet: dict[str, Any], path: Path) -> bool:
    """Draw the fleet's wall, calls per minute, CPU and memory per size; False when unmeasured."""
    series = fleet_series(fleet)
    if not series["sizes"]:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = series["sizes"]
    labels = [str(int(n)) for n in sizes]
    figure, (wall, calls, cost) = pyplot.subplots(1, 3, figsize=(13, 4))
    wall.plot(sizes, series["wall_s"], "o-", label="measured")
    wall.plot(sizes, series["goal_wall_s"], "--", label="goal: 1.5 x the wall of one")
    wall.set(title="Wall of N verifications at once", xlabel="environments", ylabel="s")
    calls.plot(sizes, series["calls_per_minute"], "o-", label="measured")
    calls.plot(sizes, series["linear_calls_per_minute"], "--", label="N x the rate of one")
    calls.set(title="API calls per minute", xlabel="environments", ylabel="calls/min")
    positions = range(len(sizes))
    cost.bar([p - 0.2 for p in positions], series["cpu_per_environment_s"], 0.4, label="CPU-s")
    memory = cost.twinx()
    memory.bar(
        [p + 0.2 for p in positions],
        series["peak_rss_per_environment_mib"],
        0.4,
        color="tab:orange",
        label="peak RSS (MiB)",
    )
    cost.set(title="Per environment (flow-run process)", xlabel="environments", ylabel="CPU-s")
    cost.set_xticks(list(positions), labels)
    memory.set_ylabel("peak RSS, MiB")
    for axes in (wall, calls):
        axes.set_xticks(sizes, labels)
        axes.legend(loc="upper left")
    cost.legend(loc="upper left")
    memory.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True
