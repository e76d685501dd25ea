"""Starting the stack's parts: the twin, PostgreSQL, the Prefect server, the pools, the worker
and the deployments; and the process plumbing they share (run, spawn, wait, progress lines)."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from deployments import kubernetes_pool
from deployments.stack import postgres, procs
from deployments.stack.prefect_file import Twin, local_schedule_interval, point_at_twin, render
from deployments.stack.settings import HOST, Stack

SERVER_READY_TIMEOUT = 120.0


WORKER_READY_TIMEOUT = 60.0


LOG_LINES = 40


class StackError(RuntimeError):
    """A step of the stack could not be done; the message says what to look at."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """Print one progress line with the seconds since start (flushed, so it stays in order with
    the children's output)."""
    print(f"==> [{time.monotonic() - _STARTED:4.0f}s] {message}", flush=True)


def tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


def run(
    stack: Stack, argv: Sequence[str], *, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command of the stack in the project root with the stack's environment."""
    return subprocess.run(
        list(argv),
        cwd=stack.root,
        env=stack.environment(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        check=False,
    )


def spawn(
    stack: Stack,
    argv: Sequence[str],
    *,
    log: Path,
    pid_file: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session (as `user` when given), output appended
    to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    as_user: dict[str, Any] = {} if user is None else {"user": user, "group": user}
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            cwd=stack.root if user is None else log.parent,
            env=env if env is not None else stack.environment(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            extra_groups=[] if user is not None else None,
            **as_user,
        )
    pid_file.write_text(f"{process.pid}\n")
    return process


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((HOST, port)) == 0


def server_healthy(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.api_url}/health", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def forget(pid_file: Path, what: str) -> None:
    """Remove a pid file whose process is gone or is not ours (never signal that pid)."""
    if pid_file.exists():
        pid_file.unlink()
        say(f"{what}: removed stale pid file {pid_file}")


def start_twin(stack: Stack) -> None:
    """Start the twin unless it runs (`python -m sandbox up` reuses a running one)."""
    if procs.owned(stack.twin_pid_file, stack, procs.is_twin) is None:
        forget(stack.twin_pid_file, "twin")
    say(f"twin: python -m sandbox up --config {stack.sandbox_config.name}")
    if run(stack, stack.twin_argv("up")).returncode != 0:
        raise StackError(f"the twin did not start; its log:\n{tail(stack.twin_log)}")


def _wait_until_ready(
    ready: Callable[[], bool], exited: Callable[[], bool], *, what: str, log: Path, timeout: float
) -> None:
    """Poll `ready` until it holds; fail early when the process has exited."""
    deadline = time.monotonic() + timeout
    while not ready():
        if exited():
            raise StackError(f"the {what} exited; its log:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"the {what} was not ready in {timeout:.0f}s; see {log}")
        time.sleep(0.5)


def start_server(stack: Stack) -> Callable[[], None]:
    """Start the Prefect server unless it runs; return a function that waits until it answers
    (the twin starts meanwhile)."""
    running = procs.owned(stack.server_pid_file, stack, procs.is_server)
    if running is not None:
        say(f"server: already running (pid {running.pid}) at {stack.ui_url}")
        if server_database(running, stack) != database(stack):
            say(
                f"server: it keeps its database, {server_database(running, stack)}; "
                "`make down` first to switch"
            )
        pid, exited = running.pid, lambda: not procs.alive(running)
    else:
        forget(stack.server_pid_file, "server")
        if _port_in_use(stack.api_port):
            raise StackError(
                f"port {stack.api_port} is taken by a process this stack did not start; stop it "
                "or choose another port with PREFECT_SERVER_API_PORT"
            )
        stack.prefect_home.mkdir(parents=True, exist_ok=True)
        say(f"server: prefect server start ({database(stack)})")
        process = spawn(
            stack,
            stack.server_argv(),
            log=stack.server_log,
            pid_file=stack.server_pid_file,
            env=stack.server_environment(os.environ),
        )
        pid, exited = process.pid, lambda: process.poll() is not None

    def wait() -> None:
        _wait_until_ready(
            lambda: server_healthy(stack),
            exited,
            what="server",
            log=stack.server_log,
            timeout=SERVER_READY_TIMEOUT,
        )
        say(f"server: ready at {stack.api_url} (pid {pid})")

    return wait


def create_pool(stack: Stack) -> None:
    """Create (or update) the process work pool, and the Kubernetes one (no worker here: its
    deployments are registered for a worker in a team's cluster)."""
    from prefect.workers.process import ProcessWorker

    _ensure_pool(stack.pool, "process", ProcessWorker.get_default_base_job_template())
    say(f"work pool: {stack.pool} (process)")
    template = json.loads(kubernetes_pool.TEMPLATE.read_text())
    _ensure_pool(kubernetes_pool.POOL, kubernetes_pool.POOL_TYPE, template)
    say(f"work pool: {kubernetes_pool.POOL} (kubernetes; its worker runs in a cluster, not here)")


def _ensure_pool(name: str, pool_type: str, template: dict[str, Any]) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    from deployments.stack import api

    try:
        api.ensure_work_pool(name, pool_type, template)
    except PrefectHTTPStatusError as exc:
        raise StackError(f"work pool {name}: {exc}") from exc


def start_worker(stack: Stack) -> Callable[[], None]:
    """Start the worker unless it runs; return a function that waits until it has reported to
    the pool (the deployments are registered meanwhile)."""
    from deployments.stack import api

    running = procs.owned(stack.worker_pid_file, stack, procs.is_worker)
    if running is not None:
        say(f"worker: already running (pid {running.pid})")
        return lambda: None
    forget(stack.worker_pid_file, "worker")
    say(f"worker: prefect worker start --pool {stack.pool} (log {stack.worker_log})")
    spawned = datetime.now(UTC)
    process = spawn(
        stack, stack.worker_argv(), log=stack.worker_log, pid_file=stack.worker_pid_file
    )

    def wait() -> None:
        _wait_until_ready(
            lambda: api.worker_reported_since(stack.pool, stack.worker_name, spawned),
            lambda: process.poll() is not None,
            what="worker",
            log=stack.worker_log,
            timeout=WORKER_READY_TIMEOUT,
        )
        say(f"worker: polling {stack.pool} as {stack.worker_name} (pid {process.pid})")

    return wait


def deployment_file(stack: Stack) -> tuple[Path, dict[str, Any]]:
    """Return the prefect.yaml to deploy from and its data: the project's, or a copy pointed at
    this stack's twin when the twin runs elsewhere than the file says."""
    config: dict[str, Any] = yaml.safe_load(stack.prefect_file.read_text())
    endpoints = json.loads(stack.twin_endpoints.read_text())
    twin = Twin.from_endpoints(endpoints, home=stack.sandbox_home)
    rendered = point_at_twin(config, twin, root=stack.root)
    if rendered is None:
        stack.rendered_prefect_file.unlink(missing_ok=True)
        return stack.prefect_file, config
    stack.rendered_prefect_file.write_text(render(rendered, twin))
    return stack.rendered_prefect_file, rendered


def deploy(stack: Stack) -> None:
    """Register every deployment; schedules of deployments on real AWS are switched off here."""
    from deployments.stack import api

    path, _ = deployment_file(stack)
    argv = ["deploy", "--all"]
    if path != stack.prefect_file:
        argv += ["--prefect-file", str(path)]
        say(f"deployments: `local` ones pointed at the twin through {path}")
    result = run(stack, stack.prefect(*argv), capture=True)
    if result.returncode != 0:
        raise StackError(f"prefect deploy --all failed:\n{result.stdout}{result.stderr}")
    names = api.deployment_names()
    say(f"deployments: {', '.join(names)}")
    # This stack's worker polls the same pool as the `dev` deployments; their schedules would
    # run them against real AWS with whatever credentials this machine has.
    off = api.active_schedules(n for n in names if not n.endswith("/local"))
    api.set_active(off, False)
    if off:
        say(
            "deployments: schedules of AWS deployments switched off on this local server: "
            + ", ".join(f"{s.deployment} ({s.slug})" for s in off)
        )


def database(stack: Stack) -> str:
    """Which database the server of `stack` uses, and where (no password)."""
    if stack.db == "postgres":
        return f"PostgreSQL {stack.database_url} (data {stack.postgres_data})"
    return f"SQLite {stack.sqlite_file}"


def server_database(server: procs.ProcessInfo, stack: Stack) -> str:
    """Which database a running server uses, from its environment (no password there)."""
    url = server.environ.get("PREFECT_API_DATABASE_CONNECTION_URL")
    if url is None:
        return f"SQLite {stack.sqlite_file}"
    # The stack's URL has no password; one set by hand might: never print it.
    url = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
    return f"PostgreSQL {url} (data {stack.postgres_data})"


def start_database(stack: Stack) -> None:
    """Start the stack's PostgreSQL and wait until it holds the database (SQLite: nothing)."""
    if stack.db == "postgres":
        postgres.start(stack, say, functools.partial(spawn, stack))()


ALERT_FAILURES_ENV = "STACK_ALERT_FAILURES"  # failed verify runs in a row that page (default 3)
ALERT_BLOCK_ENV = "STACK_ALERT_BLOCK"  # a notification block, <type>/<name>; none: no message


def create_alerts(stack: Stack) -> None:
    """Create or update the verification's alerts, tuned to verify/local's schedule."""
    from deployments.alerts import AlertSettings, ensure_alerts

    _, config = deployment_file(stack)
    interval = local_schedule_interval(config, "flows/verify.py")
    if interval is None:
        say("alerts: verify/local has no interval schedule; no alerts created")
        return
    settings = AlertSettings(
        schedule_interval_s=interval,
        failures_in_a_row=int(os.environ.get(ALERT_FAILURES_ENV) or 3),
    )
    done = ensure_alerts(settings, block=os.environ.get(ALERT_BLOCK_ENV) or None)
    say(
        "alerts: "
        + ", ".join(
            f"{name} ({'created' if new else 'updated'})" for name, (_, new) in done.items()
        )
    )
