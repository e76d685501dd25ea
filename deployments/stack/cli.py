"""`python -m deployments.stack up|down|status|logs|demo`: start, inspect and stop the stack."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from deployments import kubernetes_pool
from deployments.stack import postgres, procs
from deployments.stack.prefect_file import Twin, local_spec, point_at_twin, render
from deployments.stack.report import format_table, headline, table_rows, ui_guide
from deployments.stack.settings import HOST, Stack, current
from kops_nlb.core.reports.steps import artifact_key

PROVISION = "provision/local"
VERIFY = "verify/local"
SERVER_READY_TIMEOUT = 120.0
WORKER_READY_TIMEOUT = 60.0
WATCH_TIMEOUT_S = 900
LOG_LINES = 40


class StackError(RuntimeError):
    """A step of the stack could not be done; the message says what to look at."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """Print one progress line with the seconds since start (flushed, so it stays in order with
    the children's output)."""
    print(f"==> [{time.monotonic() - _STARTED:4.0f}s] {message}", flush=True)


def _tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


def _run(
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


def _spawn(
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


def _server_healthy(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.api_url}/health", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _forget(pid_file: Path, what: str) -> None:
    """Remove a pid file whose process is gone or is not ours (never signal that pid)."""
    if pid_file.exists():
        pid_file.unlink()
        say(f"{what}: removed stale pid file {pid_file}")


# -- up ------------------------------------------------------------------------------------------


def start_twin(stack: Stack) -> None:
    """Start the twin unless it runs (`python -m sandbox up` reuses a running one)."""
    if procs.owned(stack.twin_pid_file, stack, procs.is_twin) is None:
        _forget(stack.twin_pid_file, "twin")
    say(f"twin: python -m sandbox up --config {stack.sandbox_config.name}")
    if _run(stack, stack.twin_argv("up")).returncode != 0:
        raise StackError(f"the twin did not start; its log:\n{_tail(stack.twin_log)}")


def _wait_until_ready(
    ready: Callable[[], bool], exited: Callable[[], bool], *, what: str, log: Path, timeout: float
) -> None:
    """Poll `ready` until it holds; fail early when the process has exited."""
    deadline = time.monotonic() + timeout
    while not ready():
        if exited():
            raise StackError(f"the {what} exited; its log:\n{_tail(log)}")
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
        _forget(stack.server_pid_file, "server")
        if _port_in_use(stack.api_port):
            raise StackError(
                f"port {stack.api_port} is taken by a process this stack did not start; stop it "
                "or choose another port with PREFECT_SERVER_API_PORT"
            )
        stack.prefect_home.mkdir(parents=True, exist_ok=True)
        say(f"server: prefect server start ({database(stack)})")
        process = _spawn(
            stack,
            stack.server_argv(),
            log=stack.server_log,
            pid_file=stack.server_pid_file,
            env=stack.server_environment(os.environ),
        )
        pid, exited = process.pid, lambda: process.poll() is not None

    def wait() -> None:
        _wait_until_ready(
            lambda: _server_healthy(stack),
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
    argv = stack.prefect("work-pool", "create", stack.pool, "--type", "process", "--overwrite")
    result = _run(stack, argv, capture=True)
    if result.returncode != 0:
        raise StackError(f"work pool {stack.pool}: {result.stdout}{result.stderr}")
    say(f"work pool: {stack.pool} (process)")
    argv = stack.prefect(
        *("work-pool", "create", kubernetes_pool.POOL, "--type", kubernetes_pool.POOL_TYPE),
        *("--base-job-template", str(kubernetes_pool.TEMPLATE), "--overwrite"),
    )
    result = _run(stack, argv, capture=True)
    if result.returncode != 0:
        raise StackError(f"work pool {kubernetes_pool.POOL}: {result.stdout}{result.stderr}")
    say(f"work pool: {kubernetes_pool.POOL} (kubernetes; its worker runs in a cluster, not here)")


def start_worker(stack: Stack) -> Callable[[], None]:
    """Start the worker unless it runs; return a function that waits until it has reported to
    the pool (the deployments are registered meanwhile)."""
    from deployments.stack import api

    running = procs.owned(stack.worker_pid_file, stack, procs.is_worker)
    if running is not None:
        say(f"worker: already running (pid {running.pid})")
        return lambda: None
    _forget(stack.worker_pid_file, "worker")
    say(f"worker: prefect worker start --pool {stack.pool} (log {stack.worker_log})")
    spawned = datetime.now(UTC)
    process = _spawn(
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
    result = _run(stack, stack.prefect(*argv), capture=True)
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
        postgres.start(stack, say, functools.partial(_spawn, stack))()


def up(stack: Stack) -> int:
    """Bring the whole stack up (what runs already is reused); return an exit code."""
    start_database(stack)
    server_ready = start_server(stack)
    start_twin(stack)
    server_ready()
    create_pool(stack)
    worker_ready = start_worker(stack)
    deploy(stack)
    worker_ready()
    say(f"stack up: UI {stack.ui_url}")
    return 0


# -- demo ----------------------------------------------------------------------------------------


def run_and_watch(stack: Stack, deployment: str) -> bool:
    """Run a deployment and follow it to its end; return whether it Completed."""
    say(f"prefect deployment run {deployment} --watch")
    argv = stack.prefect(
        "deployment", "run", deployment, "--watch", "--watch-timeout", str(WATCH_TIMEOUT_S)
    )
    return _run(stack, argv).returncode == 0


def print_provision_outcome(config: dict[str, Any]) -> None:
    """Print what the last provisioning changed (from its summary artifact)."""
    from deployments.stack import api

    cluster = local_spec(config, "flows/provision.py")["cluster_name"]
    data = api.latest_artifact_data(artifact_key("provision", cluster))
    line = headline(str(data)) if data is not None else None
    if line:
        say(f"provision/local: {line}")


def print_checks(config: dict[str, Any]) -> list[str]:
    """Print the latest verification table; return the keys of the verification artifacts."""
    from deployments.stack import api

    cluster = local_spec(config, "flows/verify.py")["cluster_name"]
    key = artifact_key("verify-checks", cluster)
    data = api.latest_artifact_data(key)
    if data is None:
        say(f"no {key} artifact yet")
    else:
        say(f"verification checks ({key}):")
        print(format_table(table_rows(data)), flush=True)
    return [key, artifact_key("verify-evidence", cluster)]


def demo(stack: Stack) -> int:
    """`up`, then provision and verify the twin through the deployments; return an exit code."""
    from deployments.stack import api

    started = time.monotonic()
    up(stack)
    _, config = deployment_file(stack)
    # A scheduled verification that starts before provisioning ends can only fail: hold the
    # `local` schedules until provision/local is done.
    held = api.active_schedules(
        n for n in api.deployment_names() if n.endswith("/local") and n != PROVISION
    )
    api.set_active(held, False)
    try:
        provisioned = run_and_watch(stack, PROVISION)
    finally:
        api.set_active(held, True)
    if provisioned:
        print_provision_outcome(config)
    verified = provisioned and run_and_watch(stack, VERIFY)
    keys = print_checks(config) if provisioned else []
    print(ui_guide(stack.ui_url, artifact_keys=keys), flush=True)
    elapsed = time.monotonic() - started
    if not verified:
        failed = VERIFY if provisioned else PROVISION
        say(f"{failed} did not complete ({elapsed:.0f}s); see its run in the UI or `make logs`")
        return 1
    say(f"demo done in {elapsed:.0f}s; the stack keeps running (`make down` stops it)")
    return 0


# -- status, logs, down --------------------------------------------------------------------------


def status(stack: Stack) -> int:
    """Print what runs; exit 0 only when twin, server and worker all run."""
    twin = procs.owned(stack.twin_pid_file, stack, procs.is_twin)
    server = procs.owned(stack.server_pid_file, stack, procs.is_server)
    worker = procs.owned(stack.worker_pid_file, stack, procs.is_worker)
    if twin is not None:
        try:
            endpoints = json.loads(stack.twin_endpoints.read_text())
            where = f"aws {endpoints['aws']}  kubernetes {endpoints['kubernetes']}"
        except (OSError, ValueError, KeyError):
            where = "(no endpoints.json yet)"
        print(f"twin    running  pid {twin.pid}  {where}  home {stack.sandbox_home}")
    else:
        print(f"twin    stopped  (home {stack.sandbox_home})")
    pg = postgres.running(stack)
    if server is not None:
        health = "ready" if _server_healthy(stack) else "starting"
        print(
            f"server  running  pid {server.pid}  {health}  UI {stack.ui_url}  API {stack.api_url}"
        )
        in_use = server_database(server, stack)
    else:
        print(f"server  stopped  (PREFECT_HOME {stack.prefect_home})")
        in_use = database(stack) if pg is None else f"PostgreSQL (data {stack.postgres_data})"
    db_up = pg is not None or in_use.startswith("SQLite")
    state = f"running  pid {pg.pid}" if pg is not None else ("in-file" if db_up else "stopped")
    print(f"database  {state}  {in_use}")
    if worker is not None:
        runs = [p for p in procs.descendants(worker.pid) if "prefect.engine" in " ".join(p.argv)]
        print(
            f"worker  running  pid {worker.pid}  pool {stack.pool} as {stack.worker_name}"
            f"  flow runs in progress: {len(runs)}"
        )
    else:
        print("worker  stopped")
    return 0 if twin and server and worker and db_up else 1


def logs(stack: Stack, *, lines: int, follow: bool) -> int:
    """Print the end of the worker, server and twin logs (or follow them)."""
    files = [("worker", stack.worker_log), ("server", stack.server_log), ("twin", stack.twin_log)]
    if stack.postgres_log.exists():
        files.append(("postgres", stack.postgres_log))
    if follow:
        existing = [str(path) for _, path in files if path.exists()]
        if not existing:
            print("no logs yet: run `make up`")
            return 1
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *existing])
    for name, path in files:
        print(f"----- {name}: {path} (last {lines} lines) -----")
        print(_tail(path, lines), flush=True)
    return 0


def down(stack: Stack) -> int:
    """Stop the worker (and its flow runs), the server, its PostgreSQL and the twin, each only if
    it is the process the stack started; safe to run again."""
    worker = procs.owned(stack.worker_pid_file, stack, procs.is_worker)
    if worker is not None:
        children = procs.descendants(worker.pid)
        procs.stop([worker])
        procs.stop(children)  # flow runs run in their own sessions
        stack.worker_pid_file.unlink(missing_ok=True)
        say(f"worker stopped (pid {worker.pid})")
    else:
        _forget(stack.worker_pid_file, "worker")
        say("worker not running")

    server = procs.owned(stack.server_pid_file, stack, procs.is_server)
    if server is not None:
        children = procs.descendants(server.pid)
        _run(stack, stack.prefect("server", "stop"), capture=True)
        procs.stop([server])  # no-op when `prefect server stop` has ended it already
        procs.stop(children)
        stack.server_pid_file.unlink(missing_ok=True)
        say(f"server stopped (pid {server.pid})")
    else:
        # `prefect server stop` would signal whatever process now has that pid.
        _forget(stack.server_pid_file, "server")
        say("server not running")

    pg = postgres.running(stack)
    if pg is not None:
        # SIGINT: PostgreSQL's fast shutdown (rolls back what is open, checkpoints, exits).
        procs.stop([pg, *procs.descendants(pg.pid)], signum=signal.SIGINT)
        stack.postgres_pid_file.unlink(missing_ok=True)
        say(f"postgres stopped (pid {pg.pid})")
    elif stack.postgres_pid_file.exists():
        _forget(stack.postgres_pid_file, "postgres")

    twin = procs.owned(stack.twin_pid_file, stack, procs.is_twin)
    if twin is not None:
        children = procs.descendants(twin.pid)
        _run(stack, stack.twin_argv("down"), capture=True)
        procs.stop([twin, *children])
        say(f"twin stopped (pid {twin.pid})")
    else:
        # `python -m sandbox down` would signal whatever process group now has that pid.
        _forget(stack.twin_pid_file, "twin")
        say("twin not running")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line of `python -m deployments.stack`."""
    parser = argparse.ArgumentParser(prog="python -m deployments.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "logs", "demo"])
    parser.add_argument("-n", "--lines", type=int, default=LOG_LINES, help="logs: lines per log")
    parser.add_argument("-f", "--follow", action="store_true", help="logs: keep following")
    args = parser.parse_args(argv)
    stack = current()
    # Prefect reads its settings when first imported: point this process at the stack first.
    os.environ.update(stack.environment(os.environ))
    try:
        if args.command == "up":
            return up(stack)
        if args.command == "demo":
            return demo(stack)
        if args.command == "status":
            return status(stack)
        if args.command == "logs":
            return logs(stack, lines=args.lines, follow=args.follow)
        return down(stack)
    except (StackError, postgres.PostgresError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
