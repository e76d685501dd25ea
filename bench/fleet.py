"""The fleet scenario: environments provisioned each on a twin of its own, then verified at once
by one process work pool (one worker; each flow run a process of its own, pointed at its
environment's twin by the run's job variables, as the `local` deployments are), for several
fleet sizes.

Provisioning is setup, on instant twins, and not measured: verification waits for no simulated
latency (the SSM command's delay is zero at every scale), so an instant twin verifies as the
scaled one does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from prefect.client.orchestration import get_client

from bench import procstat
from bench.pool import (
    PROJECT_ROOT,
    QUERY_SECONDS,
    Worker,
    register_verify_deployment,
    running_worker,
    worker_environment,
)
from bench.scenarios import BenchError

# Environments provisioned at once while the fleet is set up (each boots a control plane).
SETUP_BATCH = 4
SETUP_TIMEOUT_S = 600.0
FINAL_TIMEOUT_S = 600.0
REAP_TIMEOUT_S = 30.0
MIB = 1024.0


@dataclass(frozen=True)
class FlowRunTimes:
    """When one flow run of a round was created, picked up, started and ended (epoch s)."""

    created: float
    pending: float
    running: float
    ended: float
    state: str


@dataclass(frozen=True)
class FleetRound:
    """N environments verified at once: wall, each run's times, calls, CPU and memory."""

    size: int
    wall: float
    runs: tuple[FlowRunTimes, ...]
    calls: int
    calls_by_operation: dict[str, int]
    flow_cpu_s: float
    worker_cpu_s: float
    twin_cpu_s: float
    peak_rss_mib: tuple[float, ...]
    most_rss_at_once_mib: float


@dataclass
class FleetSample:
    """Every round of the scenario, with the setup it ran on."""

    sizes: tuple[int, ...]
    rounds: list[FleetRound] = field(default_factory=list)
    setup_s: float = 0.0
    twin_rss_before_mib: float = 0.0
    twin_rss_after_mib: float = 0.0
    query_seconds: float = QUERY_SECONDS


@dataclass
class FleetEnvironment:
    """One environment's twin process (`bench.fleet_twin`), once it has provisioned."""

    process: subprocess.Popen[str]
    spec: dict[str, Any]
    env: dict[str, str]

    def calls(self, start: float, end: float) -> dict[str, int]:
        """Return the product's API calls its twin served between `start` and `end` (epoch), by
        ``service operation`` (a Kubernetes call's service is its resource, its operation the
        HTTP method)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"calls {start} {end}\n")
        self.process.stdin.flush()
        counts: dict[str, int] = json.loads(self.process.stdout.readline())
        return counts


def _spawn(home: Path, index: int, log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.fleet_twin", str(home / f"env{index}"), str(index)],
        cwd=PROJECT_ROOT,
        env=worker_environment(home / f"env{index}"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _ready(process: subprocess.Popen[str], index: int) -> FleetEnvironment:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise BenchError(f"fleet environment {index} exited ({process.wait()}) before it was ready")
    report = json.loads(line)
    if "error" in report:
        raise BenchError(f"fleet environment {index}: {report['error']}")
    return FleetEnvironment(process=process, spec=report["spec"], env=report["env"])


def start_environments(count: int, home: Path, log: IO[str]) -> list[FleetEnvironment]:
    """Start `count` environments' twins, `SETUP_BATCH` at a time; return them provisioned."""
    spawned: list[subprocess.Popen[str]] = []
    ready: list[FleetEnvironment] = []
    try:
        for first in range(0, count, SETUP_BATCH):
            batch = range(first, min(count, first + SETUP_BATCH))
            started = [(_spawn(home, index, log), index) for index in batch]
            spawned += [process for process, _ in started]
            for process, index in started:
                ready.append(_ready(process, index))
    except BaseException:
        stop_processes(spawned)
        raise
    return ready


def stop_environments(environments: list[FleetEnvironment]) -> None:
    """End every twin's input and wait until it has stopped its world."""
    stop_processes([environment.process for environment in environments])


def stop_processes(processes: list[subprocess.Popen[str]]) -> None:
    """Close the twins' input (they stop their worlds and exit); kill those that do not."""
    for process in processes:
        if process.stdin is not None:
            process.stdin.close()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.terminate()  # the twin stops its world on SIGTERM too
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _descendants(pid: int, *, skip: int) -> Iterator[int]:
    pending = [pid]
    while pending:
        current = pending.pop()
        if current == skip:
            continue
        yield current
        pending.extend(procstat.children(current))


def _twin_cpu(skip: int) -> float:
    """CPU seconds of this process (twin threads, the benchmark) and its other descendants."""
    total = 0.0
    for pid in _descendants(os.getpid(), skip=skip):
        try:
            total += procstat.cpu_times(pid).own
        except (OSError, ValueError):
            continue
    return total


def _state_times(client: Any, flow_run_id: UUID) -> FlowRunTimes:
    states = sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)
    seen: dict[str, float] = {}
    for state in states:
        seen.setdefault(state.type.value, state.timestamp.timestamp())
    final = states[-1]
    created = seen.get("SCHEDULED", states[0].timestamp.timestamp())
    return FlowRunTimes(
        created=created,
        pending=seen.get("PENDING", created),
        running=seen.get("RUNNING", created),
        ended=final.timestamp.timestamp(),
        state=final.type.value,
    )


def _await_final(client: Any, ids: list[UUID]) -> None:
    deadline = time.monotonic() + FINAL_TIMEOUT_S
    while True:
        runs = [client.read_flow_run(i) for i in ids]
        if all(r.state is not None and r.state.is_final() for r in runs):
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{sum(1 for r in runs if not r.state.is_final())} runs never ended")
        time.sleep(0.2)


def _await_reaped(worker: Worker) -> None:
    """Wait until the worker has reaped every flow-run process (their CPU is then counted)."""
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while procstat.children(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def verify_round(
    worker: Worker, deployment: UUID, environments: list[FleetEnvironment]
) -> FleetRound:
    """Create one verify run per environment at once; return what the round took."""
    flow_before = procstat.cpu_times(worker.pid)
    twin_before = _twin_cpu(skip=worker.pid)
    started = time.time()
    with (
        procstat.ChildSampler(worker.pid) as sampler,
        get_client(sync_client=True) as client,
    ):
        ids = [
            client.create_flow_run_from_deployment(
                deployment,
                parameters={"spec": environment.spec},
                job_variables={"env": environment.env},
            ).id
            for environment in environments
        ]
        _await_final(client, ids)
        _await_reaped(worker)
        sampler.sample()
        runs = tuple(_state_times(client, i) for i in ids)
    flow_after = procstat.cpu_times(worker.pid)
    twin_after = _twin_cpu(skip=worker.pid)
    failed = [r.state for r in runs if r.state != "COMPLETED"]
    if failed:
        raise BenchError(f"{len(failed)} of {len(runs)} fleet verify runs ended {failed}")
    ended = max(r.ended for r in runs)
    operations: Counter[str] = Counter()
    for environment in environments:
        operations.update(environment.calls(started, ended))
    return FleetRound(
        size=len(environments),
        wall=ended - started,
        runs=runs,
        calls=sum(operations.values()),
        calls_by_operation=dict(operations.most_common()),
        flow_cpu_s=flow_after.reaped_children - flow_before.reaped_children,
        worker_cpu_s=flow_after.own - flow_before.own,
        twin_cpu_s=twin_after - twin_before,
        peak_rss_mib=tuple(sorted(kib / MIB for kib in sampler.peak_kib.values())),
        most_rss_at_once_mib=sampler.most_at_once_kib / MIB,
    )


def measure_fleet(
    *,
    sizes: tuple[int, ...],
    rounds: int,
    home: Path,
    say: Callable[[str], None],
    warm_up: bool = True,
) -> FleetSample:
    """Provision max(sizes) environments, each on a twin of its own, then verify each size
    `rounds` times through one work pool (sizes alternate within a round, so load drifts hit
    all), after one unmeasured verification that warms the page cache unless `warm_up` is off."""
    sample = FleetSample(sizes=sizes)
    sample.twin_rss_before_mib = procstat.tree_rss_kib(os.getpid()) / MIB
    began = time.perf_counter()
    with (home / "fleet-twins.log").open("w") as log:
        environments = start_environments(max(sizes), home, log)
        try:
            sample.setup_s = time.perf_counter() - began
            sample.twin_rss_after_mib = procstat.tree_rss_kib(os.getpid()) / MIB
            say(
                f"  fleet: {len(environments)} environments provisioned in {sample.setup_s:.0f} s;"
                f" their twins hold {sample.twin_rss_after_mib - sample.twin_rss_before_mib:.0f} MiB"
            )
            deployment = register_verify_deployment()
            with running_worker(home) as worker:
                if warm_up:
                    verify_round(worker, deployment, environments[:1])
                for index in range(rounds):
                    for size in sizes:
                        done = verify_round(worker, deployment, environments[:size])
                        sample.rounds.append(done)
                        say(
                            f"  fleet round {index + 1}/{rounds}: {size} at once in "
                            f"{done.wall:.1f} s, {done.flow_cpu_s:.0f} CPU-s"
                        )
        finally:
            stop_environments(environments)
    return sample
