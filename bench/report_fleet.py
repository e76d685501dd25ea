"""The fleet section of BENCHMARKS.md: one row per fleet size, and the plot."""

from __future__ import annotations

from typing import Any

from bench.fleet_figures import RUN_PHASES
from bench.plot import FLEET_PNG as PNG
from bench.report_text import summary_text as _s
from bench.report_text import table as _table


def fleet_section(f: dict[str, Any]) -> list[str]:
    """Return the fleet section's lines."""
    fleet = f.get("fleet") or {}
    by_size = fleet.get("by_size") or {}
    lines = ["", "## Fleet: environments verified at once through one work pool", ""]
    if not by_size:
        return [*lines, fleet.get("why") or "Not measured."]
    base = by_size.get("1", {}).get("wall_s")
    lines += [
        (
            f"{max(int(n) for n in by_size)} environments, each provisioned (setup, not measured: "
            f"{fleet['setup_s']:.0f} s) on an instant twin of its own, in a process of its own "
            f"({fleet['twin_rss_per_environment_mib']:.0f} MiB resident per environment: the "
            "twin's process, a real etcd, kube-apiserver, controller manager, scheduler and AWS "
            "cloud controller, two nginx pods; one twin per environment because the twin's NLB "
            "data plane follows one cluster at a time and moto's state is per process). One "
            "Prefect `process` work pool with one worker (`prefect worker "
            f"start`, polling every {fleet['worker_query_seconds']:g} s) runs the `verify` "
            "deployment; each round creates one flow run per environment at once, pointed at "
            "its environment's twin by the run's job variables (`env`), as the `local` "
            "deployments are. Wall: from the first run's creation to the last run's end. CPU: "
            "the flow-run processes (and the `kops` they run), read from the worker's reaped "
            "children; peak RSS: each flow-run process's high-water mark. Calls: the product's "
            "AWS and Kubernetes calls the twins served in the round. Every environment's twin "
            "runs during every round, the one-environment rounds included."
        ),
        "",
        f"![fleet]({PNG})",
        "",
    ]
    rows = []
    for n, s in sorted(by_size.items(), key=lambda kv: int(kv[0])):
        ratio = (
            f"{s['wall_s']['median'] / base['median']:.2f}" if base and base["median"] else "n/a"
        )
        phases = s["run_phases_s"]
        rows.append(
            (
                n,
                _s(s["wall_s"]),
                ratio,
                _s(s["calls_per_minute"], "", 0),
                _s(s["calls_per_environment"], "", 0),
                _s(s["flow_cpu_per_environment_s"], "", 2),
                _s(s["peak_rss_per_environment_mib"], "", 0),
                " / ".join(_s(phases[k], "", 1) for k, _ in RUN_PHASES),
                _s(s["worker_cpu_s"], "", 1),
                _s(s["twin_and_server_cpu_s"], "", 0),
            )
        )
    lines += _table(
        (
            "environments",
            "wall",
            "x one",
            "API calls/min",
            "calls per env",
            "CPU-s per env",
            "peak RSS per env, MiB",
            "per run: queued / starting / running, s",
            "worker CPU-s",
            "twins + server CPU-s",
        ),
        rows,
    )
    linear = "grow linearly" if fleet.get("calls_grow_linearly") else "do not grow linearly"
    lines += [
        "",
        f"API calls {linear} (calls per environment within 25 % of one's at every size).",
        "",
        "The phases of a flow run: "
        + "; ".join(f"{key.removesuffix('_s')} is {text}" for key, text in RUN_PHASES)
        + ".",
    ]
    if fleet.get("left_out"):
        lines += ["", fleet["left_out"]]
    return lines
