"""`python -m bench --smoke` end to end: it runs, and the report has every figure, sane.

No timing is asserted (the machine may be busy); only structure and sense: re-provisioning
writes nothing, ratios and rates are positive, every wait found its ready time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployments.stack import procs

ROOT = Path(__file__).resolve().parents[2]
TARGET_IDS = [
    "provision_overhead_s",
    "instant_provision_s",
    "reprovision_s",
    "verify_s",
    "detection_latency_s",
    "detection_calls_per_resource_min",
    "scan_lines_per_cpu_s",
    "parse_lines_per_cpu_s",
    "fleet10_wall_ratio",
]

# The smoke run provisions its own twins (the fleet included): longer than the default timeout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--smoke", "--out-dir", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = bench.communicate(timeout=560)
    except subprocess.TimeoutExpired:
        # Its Prefect server, worker, twins and their control planes (some in sessions of their
        # own) would outlive it: the whole tree goes.
        procs.stop(procs.descendants(bench.pid), timeout=0, signum=signal.SIGKILL)
        bench.kill()
        _, stderr = bench.communicate()
        pytest.fail(f"python -m bench --smoke did not finish in 560 s:\n{stderr[-4000:]}")
    assert bench.returncode == 0, stderr[-4000:]
    figures = json.loads((out / "BENCHMARKS.json").read_text())
    assert (out / "BENCHMARKS-fleet.png").read_bytes()[:4] == b"\x89PNG"
    return figures, (out / "BENCHMARKS.md").read_text()


def median(figure: dict[str, Any] | None) -> float:
    assert figure is not None
    assert figure["min"] <= figure["median"] <= figure["max"]
    return float(figure["median"])


def test_provision_figures(report: tuple[dict[str, Any], str]) -> None:
    figures, _ = report
    assert figures["schema"] == 1
    assert figures["options"]["smoke"] is True
    assert figures["critical_path"]["twin"]["seconds"] > 0
    prov = figures["provision"]
    assert median(prov["wall_s"]) > 0
    assert median(prov["ratio_to_critical_path"]) > 0
    assert median(prov["flow_run_s"]) <= median(prov["wall_s"])
    # Real kops created its API load balancer, then its launch templates.
    assert 0 <= median(prov["kops_api_nlb_wait_s"]) < median(prov["wall_s"])
    assert figures["critical_path"]["twin"]["steps"][:2] == ["cluster_created", "api_nlb_active"]
    assert set(prov["phases_s"]) >= {"before_validation", "validation_wait", "engine"}
    assert {"ensure_cluster", "wait_for_cluster_valid", "wait_for_nlb_active"} <= set(
        prov["task_s"]
    )
    assert median(figures["sequential"]["wall_s"]) > 0
    assert "wait_for_bastion_online" in figures["sequential"]["step_s"]


def test_reprovision_writes_nothing(report: tuple[dict[str, Any], str]) -> None:
    figures, _ = report
    re = figures["reprovision"]
    assert median(re["wall_s"]) > 0
    assert re["product_writes"]["max"] == 0
    assert re["changed_steps"] == [[]]


def test_verify_phases(report: tuple[dict[str, Any], str]) -> None:
    figures, _ = report
    phases = figures["verify"]["phases_s"]
    assert set(phases) == {"discovery", "probe", "logs", "checks", "report", "engine"}
    assert median(phases["probe"]) > 0
    assert median(figures["verify"]["wall_s"]) >= median(phases["probe"])


def test_detection_found_every_ready_time(report: tuple[dict[str, Any], str]) -> None:
    figures, _ = report
    detection = figures["detection"]
    assert set(detection) == {"nodes", "nlb", "targets", "ssm"}
    for resource, d in detection.items():
        assert median(d["latency_s"]) >= 0, resource
        assert median(d["calls"]) >= 1, resource
        assert d["operations_run1"], resource


def test_parsing_and_overhead(report: tuple[dict[str, Any], str]) -> None:
    figures, _ = report
    parsing = figures["parsing"]
    assert parsing["lines"] == 20_000
    assert 0 < parsing["records"] < parsing["lines"]
    assert median(parsing["lines_per_cpu_second"]) > 0
    assert median(parsing["scan_lines_per_cpu_second"]) > 0
    assert parsing["scan_token_lines"] > 0
    assert median(parsing["peak_rss_mib"]) >= median(parsing["rss_before_parse_mib"]) > 0
    orchestration = figures["orchestration"]
    assert orchestration["per_called_task_s"] > 0
    assert orchestration["empty_flow_run_no_heartbeat_s"] > 0
    assert orchestration["provision_chain_run1"]


def test_targets_and_markdown(report: tuple[dict[str, Any], str]) -> None:
    figures, markdown = report
    assert [t["id"] for t in figures["targets"]] == TARGET_IDS
    for target in figures["targets"]:
        assert isinstance(target["met"], bool)
        assert isinstance(target["goal"], float | int) and target["unit"]
        assert target["measured"] is None or isinstance(target["measured"], float | int)
        assert target["met"] or target["why"]
    assert isinstance(figures["design_changes"], list)
    for heading in ("# Benchmarks", "## Targets", "## Provision", "## Verify"):
        assert heading in markdown
    assert "n/a" not in markdown.split("## Targets")[1].split("## How")[0]


def test_fleet_verified_through_the_work_pool(report: tuple[dict[str, Any], str]) -> None:
    figures, markdown = report
    fleet = figures["fleet"]
    assert fleet["sizes"] == [1, 2]
    one, two = fleet["by_size"]["1"], fleet["by_size"]["2"]
    # Every flow run went through the pool: picked up, started as a process, and ran.
    for size in (one, two):
        for phase in ("queued_s", "starting_s", "running_s"):
            assert median(size["run_phases_s"][phase]) >= 0
        assert median(size["flow_cpu_per_environment_s"]) > 0
        assert median(size["peak_rss_per_environment_mib"]) > 50  # a whole Python + Prefect
        assert median(size["calls_per_environment"]) > 0
    assert len(two["peak_rss_per_environment_mib"]["runs"]) == 2
    assert median(two["calls"]) > median(one["calls"])
    assert fleet["wall_ratio_2"] > 0 and fleet["twin_rss_per_environment_mib"] > 0
    assert "## Fleet" in markdown and "BENCHMARKS-fleet.png" in markdown
