"""Turn the measurements into figures (BENCHMARKS.json): medians with min and max over runs."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.advice import design_changes
from bench.critical_path import Latencies, longest_path, sequential_latency, world_dag
from bench.detection import DESCRIPTIONS, LOOK_MARKERS, WAITS, calls_per_minute_waiting
from bench.fleet_figures import fleet_figures
from bench.stats import Summary, summarize
from bench.targets import targets
from bench.timeline import Span, first
from kops_nlb.core.spec import PollPolicy

if TYPE_CHECKING:
    from bench.runner import Results
    from bench.scenarios import ProvisionSample
    from sandbox.config import Delays

SCHEMA = 1
# The goals the targets hold the figures to.
PROVISION_FACTOR, PROVISION_ALLOWANCE_S = 1.10, 10.0
REPROVISION_LIMIT_S = 10.0
VERIFY_LIMIT_S = 15.0
DETECTION_LIMIT_S = 5.0
CALLS_PER_MINUTE_LIMIT = 12.0
PARSE_LINES_PER_S = 500_000.0
BENCH_LIMIT_S = 15 * 60.0
PROVISION_PHASES = (
    ("before_validation", "preflight, state store, `kops create cluster`, bastion launch"),
    ("validation_wait", "`wait_for_cluster_valid`"),
    ("validation_to_nlb_wait", "kubeconfig, namespace, nginx, Service, hostname"),
    ("nlb_wait", "`wait_for_nlb_active`"),
    ("after_nlb_wait", "nodes, targets, summary artifact"),
    ("engine", "flow-run creation and finish, outside the flow run"),
)
VERIFY_PHASES = (
    ("discovery", "account, kubeconfig export, Service, nodes, pods, NLB, bastion"),
    ("probe", "SSM Run Command on the bastion, through the NLB"),
    ("logs", "pods/log of each nginx pod, parsed"),
    ("checks", "pure checks over the facts"),
    ("report", "artifacts (inside the flow run, after the checks)"),
    ("engine", "flow-run creation and finish, outside the flow run"),
)


def _latencies(delays: Delays) -> Latencies:
    return Latencies(
        node_ready=delays.node_ready,
        nlb_active=delays.nlb_active,
        target_healthy=delays.target_healthy,
        ssm_online=delays.ssm_online,
    )


def _d(summary: Summary | None, digits: int = 3) -> dict[str, object] | None:
    return None if summary is None else summary.as_dict(digits)


def _over(values: Iterable[float | None]) -> Summary | None:
    return summarize(values)


def provision_phases(sample: ProvisionSample) -> dict[str, float]:
    """Return where a provision's wall time went, in `PROVISION_PHASES` order (sums to wall)."""
    flow = sample.flow
    valid = first(sample.tasks, "wait_for_cluster_valid")
    nlb = first(sample.tasks, "wait_for_nlb_active")
    if valid is None or nlb is None:
        return {}
    return {
        "before_validation": valid.start - flow.start,
        "validation_wait": valid.duration,
        "validation_to_nlb_wait": nlb.start - valid.end,
        "nlb_wait": nlb.duration,
        "after_nlb_wait": flow.end - nlb.end,
        "engine": sample.wall - flow.duration,
    }


def _task_medians(runs: Sequence[Sequence[Span]]) -> dict[str, Summary]:
    names: list[str] = []
    for spans in runs:
        for span in spans:
            if span.name not in names:
                names.append(span.name)
    medians = {}
    for name in names:
        summary = summarize(s.duration for spans in runs if (s := first(spans, name)) is not None)
        if summary is not None:
            medians[name] = summary
    return medians


def build_figures(results: Results, *, command: str) -> dict[str, Any]:
    """Return every figure as a JSON-ready dict (targets and design changes included)."""
    import prefect

    from bench.twin import REALISTIC_DELAYS

    options = results.options
    runs = results.runs
    latencies = _latencies(options.delays)
    twin_path = longest_path(world_dag(latencies, model="twin"))
    chain_path = longest_path(world_dag(latencies, model="chain"))
    nominal = _latencies(REALISTIC_DELAYS)
    twin_path_1 = longest_path(world_dag(nominal, model="twin"))
    critical = twin_path.seconds
    limit = PROVISION_FACTOR * critical + PROVISION_ALLOWANCE_S

    provisions = [r.provision for r in runs]
    floors = [r.floor for r in runs if r.floor is not None]
    wall = _over(p.wall for p in provisions)
    ratio = _over(p.wall / critical if critical else None for p in provisions)
    phases = {
        key: _over(provision_phases(p).get(key) for p in provisions) for key, _ in PROVISION_PHASES
    }
    floor_phases = {
        key: _over(provision_phases(p).get(key) for p in floors) for key, _ in PROVISION_PHASES
    }
    projection = None
    if wall is not None:
        projected = wall.median - critical + twin_path_1.seconds
        # At full scale the polling wait on the chain (the NLB; the nodes are watched) looks
        # at the cap: it may notice readiness up to a whole interval late, where this scale
        # noticed it sooner.
        noticed = [
            summarize(d.latency for p in provisions for d in p.detections if d.resource == name)
            for name in ("nlb",)
        ]
        slack = sum(max(0.0, PollPolicy().cap - s.median) for s in noticed if s is not None)
        projection = {
            "wall_s": round(projected, 3),
            "wall_worst_s": round(projected + slack, 3),
            "limit_s": round(PROVISION_FACTOR * twin_path_1.seconds + PROVISION_ALLOWANCE_S, 3),
            "critical_path_s": twin_path_1.seconds,
        }
    sequential_walls = [r.sequential[-1].end - r.sequential[0].start for r in runs]
    speedups = [s / r.provision.wall for s, r in zip(sequential_walls, runs, strict=True)]

    reprovisions = [r.reprovision for r in runs]
    verifies = [r.verify for r in runs]
    verify_phases = {
        "discovery": _over(v.phases.get("discovery") for v in verifies),
        "probe": _over(v.phases.get("probe") for v in verifies),
        "logs": _over(v.phases.get("logs") for v in verifies),
        "checks": _over(v.phases.get("checks") for v in verifies),
        "report": _over(v.report for v in verifies),
        "engine": _over(v.engine for v in verifies),
    }

    policy = PollPolicy()
    full_scale_after = {
        "nodes": nominal.node_ready,
        "nlb": nominal.nlb_active,
        "targets": max(0.0, nominal.target_healthy - nominal.nlb_active),
        "ssm": nominal.ssm_online,
    }
    detection: dict[str, Any] = {}
    for kind in WAITS:
        found = [d for p in provisions for d in p.detections if d.resource == kind.resource]
        ops = provisions[0].wait_operations.get(kind.resource, {}) if provisions else {}
        looks = ops.get(LOOK_MARKERS[kind.resource], 0)
        per_look = sum(ops.values()) / looks if looks else None
        # The nodes are watched: a fixed number of calls (list, watch, one kops validate)
        # whatever the wait lasts. The other waits poll on the policy's schedule.
        full_scale = (
            sum(ops.values()) * 60.0 / full_scale_after[kind.resource]
            if kind.resource == "nodes" and ops
            else calls_per_minute_waiting(
                calls_per_look=per_look,
                ready_after=full_scale_after[kind.resource],
                initial=policy.initial,
                factor=policy.factor,
                cap=policy.cap,
            )
            if per_look
            else None
        )
        detection[kind.resource] = {
            "description": DESCRIPTIONS[kind.resource],
            "task": kind.task,
            "latency_s": _d(_over(d.latency for d in found)),
            "wait_s": _d(_over(d.wait.duration if d.wait else None for d in found)),
            "calls": _d(_over(d.calls for d in found)),
            "calls_per_minute": _d(_over(d.calls_per_minute for d in found), 1),
            "ready_before_wait": [d.ready_before_wait for d in found],
            "operations_run1": ops,
            "looks_run1": looks,
            "calls_per_look_run1": round(per_look, 2) if per_look else None,
            "full_scale_ready_after_s": full_scale_after[kind.resource],
            "full_scale_calls_per_minute": round(full_scale, 1) if full_scale else None,
        }

    parses = results.parses
    parsing = {
        "lines": parses[0].lines if parses else 0,
        "records": parses[0].records if parses else 0,
        "file_mib": round(parses[0].file_mb, 1) if parses else 0,
        "scan_token_lines": parses[0].scan_token_lines if parses else 0,
        "scan_lines_per_cpu_second": _d(_over(p.scan_lines_per_cpu_second for p in parses), 0),
        "lines_per_cpu_second": _d(_over(p.lines_per_cpu_second for p in parses), 0),
        "lines_per_wall_second": _d(_over(p.lines_per_second for p in parses), 0),
        "rss_before_parse_mib": _d(_over(p.rss_before_mb for p in parses), 1),
        "rss_after_tenth_mib": _d(_over(p.rss_after_tenth_mb for p in parses), 1),
        "peak_rss_mib": _d(_over(p.peak_rss_mb for p in parses), 1),
        "peak_growth_mib": _d(_over(p.peak_rss_mb - p.rss_before_mb for p in parses), 1),
    }

    overhead = results.overhead
    chain_lengths = [len(p.chain) for p in provisions]
    orchestration = {
        "empty_flow_run_s": round(overhead.empty_flow, 3) if overhead else None,
        "empty_flow_run_no_heartbeat_s": (
            round(overhead.empty_flow_without_heartbeat, 3) if overhead else None
        ),
        "per_called_task_s": round(overhead.per_called_task, 4) if overhead else None,
        "per_submitted_task_s": round(overhead.per_submitted_task, 4) if overhead else None,
        "provision_task_runs": _d(_over(len(p.tasks) for p in provisions), 0),
        "provision_chain_task_runs": _d(_over(chain_lengths), 0),
        "provision_outside_chain_s": _d(_over(p.outside_tasks for p in provisions)),
        "provision_engine_s": _d(phases["engine"]),
        "provision_chain_run1": [s.name for s in provisions[0].chain] if provisions else [],
    }

    figures: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "options": asdict(options),
        "conditions": {
            "cpus": _cpus(),
            "load_average_before": [round(x, 2) for x in results.load_before],
            "load_average_after": [round(x, 2) for x in results.load_after],
            "python": platform.python_version(),
            "prefect": prefect.__version__,
            "harness_startup_s": round(results.harness_startup, 1),
            "duration_s": round(results.duration, 1),
        },
        "latencies": {
            "scale": options.scale,
            "nominal_s": asdict(nominal),
            "scaled_s": asdict(latencies),
        },
        "critical_path": {
            "twin": {"seconds": twin_path.seconds, "steps": list(twin_path.steps)},
            "chain": {"seconds": chain_path.seconds, "steps": list(chain_path.steps)},
            "sequential_latency_s": sequential_latency(latencies),
        },
        "provision": {
            "wall_s": _d(wall),
            "flow_run_s": _d(_over(p.flow.duration for p in provisions)),
            "ratio_to_critical_path": _d(ratio),
            "limit_s": round(limit, 3),
            "phases_s": {k: _d(v) for k, v in phases.items()},
            "task_s": {k: _d(v) for k, v in _task_medians([p.tasks for p in provisions]).items()},
            "kops_api_nlb_wait_s": _d(_over(p.api_load_balancer_wait for p in provisions)),
            "instant_twin_wall_s": _d(_over(p.wall for p in floors)),
            "instant_twin_phases_s": {k: _d(v) for k, v in floor_phases.items()},
            "projection_at_scale_1": projection,
        },
        "sequential": {
            "wall_s": _d(_over(sequential_walls)),
            "speedup_of_flow": _d(_over(speedups)),
            "step_s": {k: _d(v) for k, v in _task_medians([r.sequential for r in runs]).items()},
        },
        "reprovision": {
            "wall_s": _d(_over(r.wall for r in reprovisions)),
            "product_writes": _d(_over(r.product_writes for r in reprovisions), 0),
            "twin_writes": _d(_over(r.twin_writes for r in reprovisions), 0),
            "writes_by_origin": [r.writes_by_origin for r in reprovisions],
            "write_operations": sorted({op for r in reprovisions for op in r.write_operations}),
            "changed_steps": [list(r.changed_steps) for r in reprovisions],
            "task_s": {k: _d(v) for k, v in _task_medians([r.tasks for r in reprovisions]).items()},
        },
        "verify": {
            "wall_s": _d(_over(v.wall for v in verifies)),
            "flow_run_s": _d(_over(v.flow_run for v in verifies)),
            "phases_s": {k: _d(v) for k, v in verify_phases.items()},
        },
        "detection": detection,
        "parsing": parsing,
        "fleet": fleet_figures(
            results.fleet, cpus=_cpus(), memory_mib=_memory_mib(), error=results.fleet_error
        ),
        "orchestration": orchestration,
    }
    figures["targets"] = targets(figures)
    figures["design_changes"] = design_changes(figures)
    return figures


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _memory_mib() -> float:
    from pathlib import Path

    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return 0.0
