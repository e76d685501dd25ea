"""The fleet scenario's pure parts: /proc parsing, per-size figures, the target, report and plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fleet import FleetRound, FleetSample, FlowRunTimes
from bench.fleet_figures import calls_linear, fleet_figures, run_phases, wall_ratio
from bench.plot import fleet_series, write_fleet_plot
from bench.procstat import parse_children, parse_stat, parse_status_kib
from bench.report_fleet import fleet_section
from bench.targets import targets

STAT = (
    "4242 (python -m (prefect) x) S 1 4242 4242 0 -1 4194304 9000 100 0 0 "
    "150 50 700 300 20 0 12 0 5000 123456789 2500 18446744073709551615"
)


def test_stat_times_are_counted_after_the_last_parenthesis() -> None:
    times = parse_stat(STAT, ticks=100)
    assert times.own == pytest.approx(2.0)  # utime 150 + stime 50 ticks
    assert times.reaped_children == pytest.approx(10.0)  # cutime 700 + cstime 300 ticks


def test_status_and_children_parsing() -> None:
    status = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
    assert parse_status_kib(status, "VmHWM") == 204800
    assert parse_status_kib(status, "VmRSS") == 102400
    assert parse_status_kib(status, "VmSwap") is None
    assert parse_children(["12 13 ", "", "14\n"]) == [12, 13, 14]


def _round(size: int, wall: float, *, calls_per_env: int = 100, start_s: float = 3.0) -> FleetRound:
    runs = tuple(
        FlowRunTimes(
            created=0.0,
            pending=1.0,
            running=1.0 + start_s,
            ended=wall,
            state="COMPLETED",
        )
        for _ in range(size)
    )
    return FleetRound(
        size=size,
        wall=wall,
        runs=runs,
        calls=calls_per_env * size,
        calls_by_operation={"ssm GetCommandInvocation": 60 * size, "v1/pods GET": 40 * size},
        flow_cpu_s=4.0 * size,
        worker_cpu_s=0.5,
        twin_cpu_s=2.0 * size,
        peak_rss_mib=tuple(250.0 + i for i in range(size)),
        most_rss_at_once_mib=250.0 * size,
    )


def _sample(walls: dict[int, list[float]], **kwargs: int) -> FleetSample:
    sample = FleetSample(sizes=tuple(walls), setup_s=120.0)
    sample.twin_rss_before_mib, sample.twin_rss_after_mib = 500.0, 500.0 + 900.0 * max(walls)
    for index in range(len(walls[1])):
        for size, series in walls.items():
            sample.rounds.append(_round(size, series[index], **kwargs))
    return sample


def test_phases_of_a_round_are_medians_over_its_runs() -> None:
    phases = run_phases(_round(3, 10.0))
    assert phases == {"queued_s": 1.0, "starting_s": 3.0, "running_s": 6.0}


def test_fleet_figures_ratio_linearity_and_why() -> None:
    figures = fleet_figures(_sample({1: [8.0, 10.0, 9.0], 10: [40.0, 36.0, 38.0]}), cpus=2)
    assert figures["wall_ratio_10"] == pytest.approx(38.0 / 9.0, abs=1e-3)
    assert figures["calls_grow_linearly"] is True
    ten = figures["by_size"]["10"]
    assert ten["flow_cpu_per_environment_s"]["median"] == pytest.approx(4.0)
    assert ten["calls_per_minute"]["median"] == pytest.approx(1000 * 60 / 38.0, abs=0.1)
    assert ten["peak_rss_per_environment_mib"]["max"] == pytest.approx(259.0)
    assert figures["twin_rss_per_environment_mib"] == pytest.approx(900.0)
    # The miss is explained from the breakdown: 40 CPU-s of flow runs + 20 of twins on 2 cores.
    assert "10 at once took 38.0 s against 9.0 s for one" in figures["why"]
    assert "at least 30 s of CPU" in figures["why"]
    assert "79% of the 38 s wall: the wall is bounded by CPU" in figures["why"]
    found = {t["id"]: t for t in targets({**_empty_other_figures(), "fleet": figures})}
    assert found["fleet10_wall_ratio"]["measured"] == pytest.approx(4.222, abs=1e-3)
    assert not found["fleet10_wall_ratio"]["met"]


def test_fleet_target_needs_the_ratio_and_linear_calls() -> None:
    fast = fleet_figures(_sample({1: [10.0], 10: [12.0]}), cpus=2)
    found = {t["id"]: t for t in targets({**_empty_other_figures(), "fleet": fast})}
    assert found["fleet10_wall_ratio"]["met"]
    sizes = {int(n): s for n, s in fast["by_size"].items()}
    assert calls_linear(sizes)
    sizes[10] = {**sizes[10], "calls_per_environment": {"median": 160.0}}
    assert not calls_linear(sizes)
    assert wall_ratio(sizes, 30) is None


def test_fleet_not_measured_says_why() -> None:
    assert fleet_figures(None, cpus=2)["wall_ratio_10"] is None
    smoke = fleet_figures(_sample({1: [5.0], 2: [6.0]}), cpus=2)
    assert smoke["wall_ratio_10"] is None and smoke["wall_ratio_2"] == pytest.approx(1.2)
    assert smoke["why"] == "not measured: this run's fleet sizes were [1, 2]."


def test_report_section_and_plot(tmp_path: Path) -> None:
    figures = fleet_figures(_sample({1: [8.0], 10: [40.0]}), cpus=2)
    text = "\n".join(fleet_section({"fleet": figures}))
    assert "| 10 | 40.0 s | 5.00 |" in text
    assert "![fleet](BENCHMARKS-fleet.png)" in text
    series = fleet_series(figures)
    assert series["sizes"] == [1.0, 10.0]
    assert series["linear_calls_per_minute"][1] == pytest.approx(10 * series["calls_per_minute"][0])
    png = tmp_path / "fleet.png"
    assert write_fleet_plot(figures, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not write_fleet_plot({"wall_ratio_10": None}, tmp_path / "none.png")


def _empty_other_figures() -> dict[str, object]:
    """Figures of the other targets, none of them measured (only the fleet is judged here)."""
    empty: dict[str, object] = {"median": None}
    return {
        "provision": {"wall_s": None, "phases_s": {}, "task_s": {}},
        "critical_path": {"twin": {"seconds": 0.0}},
        "reprovision": {"wall_s": None, "product_writes": None, "task_s": {}},
        "verify": {"wall_s": None, "phases_s": {}},
        "detection": {},
        "parsing": {"scan_lines_per_cpu_second": None, "lines_per_cpu_second": empty},
    }


def test_calls_that_grow_faster_than_the_fleet_are_named() -> None:
    sample = FleetSample(sizes=(1, 10), setup_s=1.0)
    busy = _round(10, 30.0, calls_per_env=160)
    busy = FleetRound(
        **{
            **busy.__dict__,
            "calls_by_operation": {"ssm GetCommandInvocation": 1200, "v1/pods GET": 400},
        }
    )
    sample.rounds = [_round(1, 10.0), busy]
    figures = fleet_figures(sample, cpus=2)
    assert figures["calls_grow_linearly"] is False
    assert "100 alone, 160 at 10" in figures["why"]
    assert "ssm GetCommandInvocation 60 -> 120" in figures["why"]


def test_thirty_left_out_is_explained_by_the_twins_memory() -> None:
    figures = fleet_figures(_sample({1: [8.0], 10: [40.0]}), cpus=2, memory_mib=23 * 1024)
    assert figures["left_out"].startswith("30 environments were left out")
    assert "900 MiB" in figures["left_out"] and "26 GiB against" in figures["left_out"]
    assert "23 GiB" in figures["left_out"]


def test_listening_addresses_from_proc_net_tcp() -> None:
    from bench.procstat import parse_listening_ipv4

    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0202D77F:0050 00000000:0000 0A 00000000:00000000\n"  # 127.215.2.2:80, listening
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000\n"  # established: not listed
    )
    assert parse_listening_ipv4(text) == ["127.215.2.2"]
