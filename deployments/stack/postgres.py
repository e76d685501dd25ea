"""The stack's own PostgreSQL (`make up DB=postgres`): initialised, started and stopped by pid.

Prefect's guidance for a server that a team shares is PostgreSQL. The stack runs Debian's
binaries (`/usr/lib/postgresql/<version>/bin`, installed by `make postgres` without starting the
system service) on a data directory under $PREFECT_HOME/postgres, listening on 127.0.0.1 only,
with no Unix socket. PostgreSQL refuses to run as root: a root stack runs it as the system user
`kops-nlb-pg`, which may traverse PREFECT_HOME (group, g+x) and owns only the data directory. The role's password is generated at `initdb` and kept in a 0600 passfile that
asyncpg reads through PGPASSFILE; it is never in a URL, an argv or a log line.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployments.stack import procs
from deployments.stack.settings import (
    HOST,
    POSTGRES_DATABASE,
    POSTGRES_ROLE,
    POSTGRES_SYSTEM_USER,
    Stack,
)

PG_LIB = Path("/usr/lib/postgresql")
READY_TIMEOUT = 60.0


class PostgresError(RuntimeError):
    """The stack's PostgreSQL could not be set up or started; the message says why."""


def bin_dir(base: Path = PG_LIB) -> Path:
    """Return the bin directory of the newest PostgreSQL installed under `base`."""
    found = sorted(
        (p.parent for p in base.glob("*/bin/postgres")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresError(
            f"no PostgreSQL under {base}: run `make postgres` (installs Debian's postgresql "
            "without starting its service)"
        )
    return found[-1]


def run_as() -> str | None:
    """Return the user PostgreSQL runs as: `kops-nlb-pg` when we are root, else None (us)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        raise PostgresError(
            f"PostgreSQL refuses to run as root and the system user {POSTGRES_SYSTEM_USER} does "
            "not exist: run `make postgres`"
        ) from None
    return POSTGRES_SYSTEM_USER


def server_argv(stack: Stack, bins: Path) -> list[str]:
    """The postmaster on the stack's data directory: loopback only, no Unix socket."""
    return [
        str(bins / "postgres"),
        *("-D", str(stack.postgres_data)),
        *("-p", str(stack.postgres_port)),
        *("-c", f"listen_addresses={HOST}"),
        *("-c", "unix_socket_directories="),
    ]


def _as_user(user: str | None) -> dict[str, Any]:
    """subprocess keyword arguments that run a child as `user` (none when it is us)."""
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def _give(path: Path, user: str | None, mode: int) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(mode)


def _let_traverse(home: Path, user: str | None) -> None:
    """Let `user` traverse PREFECT_HOME (Prefect makes it 0700) to reach the data inside: its
    group becomes the user's and gains g+x; it stays unlistable and closed to everyone else."""
    if user is None or home.stat().st_mode & 0o001:
        return
    entry = pwd.getpwnam(user)
    os.chown(home, -1, entry.pw_gid)
    home.chmod((home.stat().st_mode & 0o7777) | 0o010)


def _reachable(path: Path, user: str | None) -> None:
    """Fail with a clear message when `user` cannot traverse the folders above `path`."""
    if user is None:
        return
    probe = subprocess.run(
        ["test", "-x", str(path.parent)],
        check=False,
        **_as_user(user),
    )
    if probe.returncode != 0:
        raise PostgresError(
            f"the user {user} cannot reach {path.parent}: PostgreSQL's data must be in a folder "
            "whose parents others may traverse (chmod o+x)"
        )


def initialise(stack: Stack, bins: Path, user: str | None) -> bool:
    """Create the data directory, the `prefect` role and its passfile, once; return whether it
    was created now."""
    if (stack.postgres_data / "PG_VERSION").exists():
        if not stack.postgres_passfile.exists():
            raise PostgresError(
                f"{stack.postgres_data} exists but {stack.postgres_passfile} does not: remove "
                f"{stack.postgres_home} to start from an empty database"
            )
        return False
    stack.postgres_home.mkdir(parents=True, exist_ok=True)
    stack.postgres_home.chmod(0o755)
    stack.postgres_data.mkdir(exist_ok=True)
    _give(stack.postgres_data, user, 0o700)
    _let_traverse(stack.prefect_home, user)
    _reachable(stack.postgres_data, user)
    password = secrets.token_urlsafe(24)
    pwfile = stack.postgres_home / "initdb.pw"
    pwfile.touch(mode=0o600)
    _give(pwfile, user, 0o600)
    pwfile.write_text(password + "\n")
    try:
        argv = [
            str(bins / "initdb"),
            *("-D", str(stack.postgres_data)),
            *("--username", POSTGRES_ROLE, "--pwfile", str(pwfile)),
            *("--auth-host", "scram-sha-256", "--auth-local", "scram-sha-256"),
            *("--encoding", "UTF8", "--no-locale"),
        ]
        with stack.postgres_log.open("ab") as log:
            done = subprocess.run(
                argv,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=stack.postgres_home,
                **_as_user(user),
            )
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PostgresError(f"initdb failed; see {stack.postgres_log}")
    stack.postgres_passfile.touch(mode=0o600)
    stack.postgres_passfile.chmod(0o600)
    stack.postgres_passfile.write_text(f"{HOST}:*:*:{POSTGRES_ROLE}:{password}\n")
    return True


def running(stack: Stack) -> procs.ProcessInfo | None:
    """The stack's PostgreSQL if it runs (by its pid file and command line)."""
    return procs.owned(stack.postgres_pid_file, stack, procs.is_postgres)


def _client_env(stack: Stack) -> dict[str, str]:
    return {**os.environ, "PGPASSFILE": str(stack.postgres_passfile), "PGCONNECT_TIMEOUT": "3"}


def accepts_connections(stack: Stack, bins: Path) -> bool:
    """Whether PostgreSQL answers on its port (pg_isready)."""
    argv = [str(bins / "pg_isready"), "-q", "-h", HOST, "-p", str(stack.postgres_port)]
    return subprocess.run(argv, check=False, env=_client_env(stack)).returncode == 0


def create_database(stack: Stack, bins: Path) -> None:
    """Create the `prefect` database unless it exists."""
    argv = [
        str(bins / "createdb"),
        *("-h", HOST, "-p", str(stack.postgres_port), "-U", POSTGRES_ROLE, "-w"),
        POSTGRES_DATABASE,
    ]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, env=_client_env(stack))
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise PostgresError(f"createdb {POSTGRES_DATABASE} failed: {done.stderr.strip()}")


def start(
    stack: Stack, say: Callable[[str], None], spawn: Callable[..., subprocess.Popen[bytes]]
) -> Callable[[], None]:
    """Start PostgreSQL unless it runs; return a function that waits until it accepts
    connections and holds the `prefect` database."""
    bins = bin_dir()
    current = running(stack)
    if current is not None:
        say(f"postgres: already running (pid {current.pid}) on {HOST}:{stack.postgres_port}")
        pid, exited = current.pid, lambda: not procs.alive(current)
    else:
        stack.postgres_pid_file.unlink(missing_ok=True)
        user = run_as()
        if initialise(stack, bins, user):
            say(f"postgres: initdb {stack.postgres_data}")
        say(
            f"postgres: {bins / 'postgres'} on {HOST}:{stack.postgres_port} (log {stack.postgres_log})"
        )
        process = spawn(
            server_argv(stack, bins),
            log=stack.postgres_log,
            pid_file=stack.postgres_pid_file,
            user=user,
        )
        pid, exited = process.pid, lambda: process.poll() is not None
    started = time.monotonic()

    def wait() -> None:
        deadline = started + READY_TIMEOUT
        while not accepts_connections(stack, bins):
            if exited():
                raise PostgresError(f"PostgreSQL exited; see {stack.postgres_log}")
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL was not ready in {READY_TIMEOUT:.0f}s")
            time.sleep(0.2)
        create_database(stack, bins)
        say(
            f"postgres: ready in {time.monotonic() - started:.1f}s, database {POSTGRES_DATABASE}"
            f" (pid {pid})"
        )

    return wait
