"""A process work pool on the benchmark's Prefect server: the verify deployment and one worker.

The deployment is registered as `prefect deploy` registers the project's own (prefect.yaml): an
entrypoint and a pull step that sets the working directory to the project. The worker is a
`prefect worker start` process whose environment points at the twin, as the `local` pool's
job variables do; every flow run it picks up is a Python process of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import get_current_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POOL = "kops-nlb-bench-fleet"
VERIFY_ENTRYPOINT = "flows/verify.py:verify"
# The worker looks for scheduled runs this often (Prefect's default is 10 s); the same for one
# environment and for many, so it adds the same wait to both.
QUERY_SECONDS = 1.0
READY_TIMEOUT_S = 120.0
# How long a worker gets to stop after an interrupt before the second one: it has no flow run in
# flight by then, and it stops in well under a second when it acts on the first.
STOP_GRACE_S = 5.0
STOP_TIMEOUT_S = 30.0


class PoolError(RuntimeError):
    """The worker did not start or report to its pool."""


@dataclass
class Worker:
    """A running `prefect worker start` process of the pool, and where its output goes."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid


def register_verify_deployment() -> UUID:
    """Create the process pool (again, empty) and the verify deployment on it; return its id."""
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=POOL,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            ),
            overwrite=True,
        )
        flow_id = client.create_flow_from_name("verify")
        return client.create_deployment(
            flow_id=flow_id,
            name="fleet",
            entrypoint=VERIFY_ENTRYPOINT,
            work_pool_name=POOL,
            pull_steps=[
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": str(PROJECT_ROOT)
                    }
                }
            ],
        )


def worker_environment(home: Path) -> dict[str, str]:
    """Return the worker's environment: this process's (the twin's endpoints and `kops` on
    PATH included), the benchmark server's API and a Prefect home of its own."""
    settings = get_current_settings()
    (home / "prefect-worker").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PREFECT_API_URL": str(settings.api.url),
        "PREFECT_HOME": str(home / "prefect-worker"),
        "PREFECT_WORKER_QUERY_SECONDS": str(QUERY_SECONDS),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def _reported(pool: str) -> bool:
    with get_client(sync_client=True) as client:
        return bool(client.read_workers_for_work_pool(pool))


@contextlib.contextmanager
def running_worker(home: Path) -> Iterator[Worker]:
    """Start a worker of the pool, wait until it has reported, and stop it in the end."""
    log = home / "fleet-worker.log"
    argv = [sys.executable, "-m", "prefect", "worker", "start"]
    argv += ["--pool", POOL, "--type", "process", "--name", "bench-fleet"]
    handle: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=worker_environment(home),
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    worker = Worker(process=process, log=log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _reported(POOL):
            if process.poll() is not None:
                raise PoolError(f"the worker exited ({process.returncode}); see {log}")
            if time.monotonic() > deadline:
                raise PoolError(f"the worker did not report to {POOL}; see {log}")
            time.sleep(0.5)
        yield worker
    finally:
        stop_worker(process)
        handle.close()


def stop_worker(process: subprocess.Popen[Any], *, grace_s: float = STOP_GRACE_S) -> None:
    """Interrupt the worker; interrupt it again if it goes on after `grace_s`.

    Prefect 3.9's worker can lose its first interrupt after it has run flows: it prints that it
    received it and goes on polling. Its answer to a second interrupt is to kill itself, which
    loses nothing here (each round ends only once its flow runs are final and reaped).
    """
    for _ in range(2):
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    process.kill()
    process.wait(timeout=STOP_TIMEOUT_S)
