"""`python -m deployments.stack up|down|status|logs|demo`: start, inspect and stop the stack."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from deployments.stack import postgres, procs
from deployments.stack.prefect_file import local_spec
from deployments.stack.report import format_table, headline, table_rows, ui_guide
from deployments.stack.settings import Stack, current
from deployments.stack.starting import (
    LOG_LINES,
    StackError,
    create_alerts,
    create_pool,
    database,
    deploy,
    deployment_file,
    forget,
    run,
    say,
    server_database,
    server_healthy,
    start_database,
    start_server,
    start_twin,
    start_worker,
    tail,
)
from kops_nlb.core.reports.steps import artifact_key

PROVISION = "provision/local"
VERIFY = "verify/local"
WATCH_TIMEOUT_S = 900
WORKER_STOP_S = 5.0  # then SIGKILL


# -- up ------------------------------------------------------------------------------------------


def up(stack: Stack) -> int:
    """Bring the whole stack up (what runs already is reused); return an exit code."""
    start_database(stack)
    server_ready = start_server(stack)
    start_twin(stack)
    server_ready()
    create_pool(stack)
    worker_ready = start_worker(stack)
    deploy(stack)
    create_alerts(stack)
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
    return run(stack, argv).returncode == 0


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
        health = "ready" if server_healthy(stack) else "starting"
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
        print(tail(path, lines), flush=True)
    return 0


def down(stack: Stack) -> int:
    """Stop the worker (and its flow runs), the server, its PostgreSQL and the twin, each only if
    it is the process the stack started; safe to run again."""
    worker = procs.owned(stack.worker_pid_file, stack, procs.is_worker)
    if worker is not None:
        children = procs.descendants(worker.pid)
        # A worker told to stop waits for the flow runs it started, which are stopped next
        # anyway; after a verification it has been seen to wait on with none left.
        procs.stop([worker], timeout=WORKER_STOP_S)
        procs.stop(children)  # flow runs run in their own sessions
        stack.worker_pid_file.unlink(missing_ok=True)
        say(f"worker stopped (pid {worker.pid})")
    else:
        forget(stack.worker_pid_file, "worker")
        say("worker not running")

    server = procs.owned(stack.server_pid_file, stack, procs.is_server)
    if server is not None:
        children = procs.descendants(server.pid)
        run(stack, stack.prefect("server", "stop"), capture=True)
        procs.stop([server])  # no-op when `prefect server stop` has ended it already
        procs.stop(children)
        stack.server_pid_file.unlink(missing_ok=True)
        say(f"server stopped (pid {server.pid})")
    else:
        # `prefect server stop` would signal whatever process now has that pid.
        forget(stack.server_pid_file, "server")
        say("server not running")

    pg = postgres.running(stack)
    if pg is not None:
        # SIGINT: PostgreSQL's fast shutdown (rolls back what is open, checkpoints, exits).
        procs.stop([pg, *procs.descendants(pg.pid)], signum=signal.SIGINT)
        stack.postgres_pid_file.unlink(missing_ok=True)
        say(f"postgres stopped (pid {pg.pid})")
    elif stack.postgres_pid_file.exists():
        forget(stack.postgres_pid_file, "postgres")

    twin = procs.owned(stack.twin_pid_file, stack, procs.is_twin)
    if twin is not None:
        children = procs.descendants(twin.pid)
        run(stack, stack.twin_argv("down"), capture=True)
        procs.stop([twin, *children])
        say(f"twin stopped (pid {twin.pid})")
    else:
        # `python -m sandbox down` would signal whatever process group now has that pid.
        forget(stack.twin_pid_file, "twin")
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
