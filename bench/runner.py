"""Run every benchmark: twins per run inside one Prefect test harness, then the parser."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import logparse
from bench.fleet import FleetSample, measure_fleet
from bench.overhead import Overhead, empty_flow, measure_overhead
from bench.pool import PoolError
from bench.scenarios import (
    BenchError,
    ProvisionSample,
    ReprovisionSample,
    VerifySample,
    measure_provision,
    measure_reprovision,
    measure_sequential,
    measure_verify,
)
from bench.timeline import Span
from bench.twin import running_twin, scaled_delays
from sandbox.config import Delays
from sandbox.loopback import LoopbackRange

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Options:
    """What to run: delay scale, number of runs, log size, and the extras."""

    scale: float = 0.25
    runs: int = 3
    log_lines: int = 1_000_000
    floor: bool = True
    overhead_tasks: int = 30
    overhead_flows: int = 3
    fleet_sizes: tuple[int, ...] = (1, 10)
    smoke: bool = False

    @property
    def delays(self) -> Delays:
        """The twin's latencies: realistic x `scale`; a smoke run's load balancers are active
        at once (kops's own wait for them would take most of its tiny provisions)."""
        return scaled_delays(self.scale, nlb_at_once=self.smoke)


@dataclass
class RunSample:
    """Everything measured in one run."""

    provision: ProvisionSample
    reprovision: ReprovisionSample
    verify: VerifySample
    sequential: list[Span]
    floor: ProvisionSample | None


@dataclass
class Results:
    """Everything measured, with the conditions it was measured in."""

    options: Options
    runs: list[RunSample] = field(default_factory=list)
    parses: list[logparse.ParseRun] = field(default_factory=list)
    overhead: Overhead | None = None
    fleet: FleetSample | None = None
    fleet_error: str = ""
    harness_startup: float = 0.0
    started: float = field(default_factory=time.time)
    duration: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _quiet_prefect_console() -> None:
    """Keep flow and task logs out of the terminal (they still go to the API, as in production)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.WARNING)


def _warm_imports() -> None:
    """Import what a worker process has loaded after its first flow run (lazy API modules)."""
    from kubernetes import client

    _ = (client.CoreV1Api, client.AppsV1Api)


def _one_run(
    options: Options, loopback: LoopbackRange, home: Path, index: int, say: Callable[[str], None]
) -> RunSample:
    with running_twin(
        delays=options.delays, loopback=loopback, home=home, name=f"run{index}"
    ) as twin:
        provision = measure_provision(twin)
        say(f"  provision {provision.wall:.1f} s")
        reprovision = measure_reprovision(twin, since=provision.finished_at)
        say(f"  re-provision {reprovision.wall:.1f} s")
        verify = measure_verify(twin)
        say(f"  verify {verify.wall:.1f} s")
    with running_twin(
        delays=options.delays, loopback=loopback, home=home, name=f"seq{index}"
    ) as twin:
        sequential = measure_sequential(twin)
        say(f"  sequential baseline {sequential[-1].end - sequential[0].start:.1f} s")
    floor = None
    if options.floor:
        instant = scaled_delays(0.0)
        with running_twin(
            delays=instant, loopback=loopback, home=home, name=f"floor{index}"
        ) as twin:
            floor = measure_provision(twin)
            say(f"  provision on an instant twin {floor.wall:.1f} s")
    return RunSample(
        provision=provision,
        reprovision=reprovision,
        verify=verify,
        sequential=sequential,
        floor=floor,
    )


def run_all(options: Options, *, progress: Callable[[str], None] | None = None) -> Results:
    """Run every benchmark and return the measurements."""
    say = progress or log.info
    results = Results(options=options, load_before=os.getloadavg())
    loopback = LoopbackRange()
    try:
        with tempfile.TemporaryDirectory(prefix="kops-nlb-bench-") as scratch:
            home = Path(scratch)
            log_path = home / "nginx-access.log"
            size = logparse.write_log(log_path, lines=options.log_lines)
            say(f"generated {options.log_lines} log lines ({size / 2**20:.0f} MiB)")
            from bench.prefect_harness import harness, migrated_template

            template = migrated_template()  # once per Prefect version, not timed
            started = time.perf_counter()
            with harness(template=template):
                results.harness_startup = time.perf_counter() - started
                _quiet_prefect_console()
                say(f"Prefect test harness up in {results.harness_startup:.1f} s")
                _warm_imports()
                empty_flow()  # the harness's first flow run pays one-time costs
                results.overhead = measure_overhead(
                    tasks=options.overhead_tasks, flows=options.overhead_flows
                )
                for index in range(options.runs):
                    say(f"run {index + 1}/{options.runs} (delays x{options.scale})")
                    results.runs.append(_one_run(options, loopback, home, index, say))
                if options.fleet_sizes:
                    say(f"fleet of {', '.join(map(str, options.fleet_sizes))} environments")
                    try:
                        results.fleet = measure_fleet(
                            sizes=options.fleet_sizes,
                            rounds=options.runs,
                            home=home,
                            say=say,
                            warm_up=not options.smoke,
                        )
                    except (BenchError, PoolError) as error:
                        results.fleet_error = str(error)
                        say(f"fleet not measured: {error}")
            for index in range(options.runs):
                say(f"parse {index + 1}/{options.runs}")
                results.parses.append(logparse.measure(log_path))
    finally:
        loopback.release()
    results.duration = time.time() - results.started
    results.load_after = os.getloadavg()
    return results
