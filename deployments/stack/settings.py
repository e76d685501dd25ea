"""Where the stack lives and how it is reached, read from the environment (pure)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_API_PORT = 4200
POOL = "kops-nlb"
# Flow runs start within this many seconds of being scheduled (Prefect's default is 10).
WORKER_QUERY_SECONDS = 2

# The environment variables that move the stack; everything else has a fixed place.
PREFECT_HOME_ENV = "PREFECT_HOME"
API_PORT_ENV = "PREFECT_SERVER_API_PORT"
SANDBOX_HOME_ENV = "SANDBOX_HOME"
SANDBOX_CONFIG_ENV = "SANDBOX_CONFIG"
# The server's database: `sqlite` (the default, $PREFECT_HOME/prefect.db) or `postgres` (a local
# PostgreSQL the stack starts itself, under $PREFECT_HOME/postgres; `make up DB=postgres`).
DB_ENV = "STACK_DB"
DATABASES = ("sqlite", "postgres")
POSTGRES_PORT_ENV = "STACK_POSTGRES_PORT"
# Below the kernel's range of ports for outgoing connections (32768-60999 on Linux), one of which
# a busy machine may hold at the moment PostgreSQL binds.
DEFAULT_POSTGRES_PORT = 15432
# The PostgreSQL role and database of the Prefect server, and the system user that runs
# PostgreSQL when the stack runs as root (PostgreSQL refuses root; `make postgres` creates it).
POSTGRES_ROLE = "prefect"
POSTGRES_DATABASE = "prefect"
POSTGRES_SYSTEM_USER = "kops-nlb-pg"


@dataclass(frozen=True)
class Stack:
    """One stack: a project checkout, its Prefect home and port, and its twin's home and config."""

    root: Path
    prefect_home: Path
    sandbox_home: Path
    sandbox_config: Path
    api_port: int = DEFAULT_API_PORT
    pool: str = POOL
    python: str = sys.executable
    db: str = "sqlite"
    postgres_port: int = DEFAULT_POSTGRES_PORT

    def __post_init__(self) -> None:
        if self.db not in DATABASES:
            raise ValueError(f"{DB_ENV}={self.db!r}: choose one of {', '.join(DATABASES)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, root: Path) -> Stack:
        """Return the stack of project `root`, moved by PREFECT_HOME, PREFECT_SERVER_API_PORT,
        SANDBOX_HOME and SANDBOX_CONFIG when they are set (relative paths are under `root`), on
        the database STACK_DB names (and STACK_POSTGRES_PORT for PostgreSQL)."""
        root = root.resolve()

        def path(name: str, default: str) -> Path:
            return (root / env.get(name, default)).resolve()

        port = env.get(API_PORT_ENV, "")
        pg_port = env.get(POSTGRES_PORT_ENV, "")
        return cls(
            root=root,
            prefect_home=path(PREFECT_HOME_ENV, ".prefect"),
            sandbox_home=path(SANDBOX_HOME_ENV, ".sandbox"),
            sandbox_config=path(SANDBOX_CONFIG_ENV, "sandbox.toml"),
            api_port=int(port) if port else DEFAULT_API_PORT,
            db=env.get(DB_ENV, "") or "sqlite",
            postgres_port=int(pg_port) if pg_port else DEFAULT_POSTGRES_PORT,
        )

    @property
    def ui_url(self) -> str:
        """Address of the Prefect UI."""
        return f"http://{HOST}:{self.api_port}"

    @property
    def api_url(self) -> str:
        """Address of the Prefect API (PREFECT_API_URL)."""
        return f"{self.ui_url}/api"

    @property
    def prefect_file(self) -> Path:
        """The project's prefect.yaml."""
        return self.root / "prefect.yaml"

    @property
    def server_pid_file(self) -> Path:
        """Pid of the server; the same file `prefect server stop` reads."""
        return self.prefect_home / "server.pid"

    @property
    def server_log(self) -> Path:
        """Output of the server."""
        return self.prefect_home / "server.log"

    @property
    def worker_pid_file(self) -> Path:
        """Pid of the worker."""
        return self.prefect_home / "worker.pid"

    @property
    def worker_log(self) -> Path:
        """Output of the worker and of the flow runs it starts."""
        return self.prefect_home / "worker.log"

    @property
    def worker_name(self) -> str:
        """The worker's name, as the UI's work pool page lists it."""
        return f"{self.pool}-local"

    @property
    def twin_pid_file(self) -> Path:
        """Pid of the twin, written by `python -m sandbox up`."""
        return self.sandbox_home / "world.pid"

    @property
    def twin_log(self) -> Path:
        """Output of the twin."""
        return self.sandbox_home / "world.log"

    @property
    def twin_endpoints(self) -> Path:
        """The twin's addresses, written by `python -m sandbox up` once it answers."""
        return self.sandbox_home / "endpoints.json"

    @property
    def rendered_prefect_file(self) -> Path:
        """Where a copy of prefect.yaml pointed at a twin on other ports goes."""
        return self.prefect_home / "prefect.twin.yaml"

    @property
    def sqlite_file(self) -> Path:
        """Prefect's SQLite database (its default place under PREFECT_HOME)."""
        return self.prefect_home / "prefect.db"

    @property
    def postgres_home(self) -> Path:
        """Everything of the stack's PostgreSQL: its data, pid, log and password file."""
        return self.prefect_home / "postgres"

    @property
    def postgres_data(self) -> Path:
        """PostgreSQL's data directory (owned by the user PostgreSQL runs as)."""
        return self.postgres_home / "data"

    @property
    def postgres_pid_file(self) -> Path:
        """Pid of the PostgreSQL server (the postmaster)."""
        return self.postgres_home / "postgres.pid"

    @property
    def postgres_log(self) -> Path:
        """Output of PostgreSQL."""
        return self.postgres_home / "postgres.log"

    @property
    def postgres_passfile(self) -> Path:
        """The role's password in libpq's passfile format (0600), read by asyncpg through
        PGPASSFILE, so that no URL, argv or log line ever holds it."""
        return self.postgres_home / "pgpass"

    @property
    def database_url(self) -> str:
        """The Prefect server's PostgreSQL URL: no password in it (asyncpg reads PGPASSFILE)."""
        return (
            f"postgresql+asyncpg://{POSTGRES_ROLE}@{HOST}:{self.postgres_port}/{POSTGRES_DATABASE}"
        )

    def server_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return `environment(base)` plus the database settings of the server."""
        env = self.environment(base)
        if self.db == "postgres":
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
            env["PGPASSFILE"] = str(self.postgres_passfile)
        else:
            # SQLite under PREFECT_HOME, whatever the calling shell says.
            env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
            env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
        return env

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return `base` plus what every process of the stack needs to reach this stack."""
        return {
            **base,
            PREFECT_HOME_ENV: str(self.prefect_home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_HOST": HOST,
            API_PORT_ENV: str(self.api_port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": str(WORKER_QUERY_SECONDS),
            # `prefect deployment run --watch` shows the flow runs' log lines, not only events.
            "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
            "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
            # `{{ $PWD }}` in prefect.yaml's pull step is resolved from this at deploy time.
            "PWD": str(self.root),
        }

    def prefect(self, *args: str) -> list[str]:
        """Return the argv of a `prefect` command run by the project's interpreter."""
        return [self.python, "-m", "prefect", "--no-prompt", *args]

    def server_argv(self) -> list[str]:
        """The server, in the foreground of its own process (its output goes to `server_log`)."""
        return self.prefect("server", "start", "--host", HOST, "--port", str(self.api_port))

    def worker_argv(self) -> list[str]:
        """The worker polling the pool."""
        return self.prefect("worker", "start", "--pool", self.pool, "--name", self.worker_name)

    def twin_argv(self, command: str) -> list[str]:
        """`python -m sandbox up|down|status` for this stack's twin."""
        argv = [self.python, "-m", "sandbox", command, "--home", str(self.sandbox_home)]
        if command == "up":
            argv += ["--config", str(self.sandbox_config)]
        return argv


def current(root: Path | None = None) -> Stack:
    """Return the stack of the project in `root` (the working directory by default)."""
    return Stack.from_env(os.environ, root=root or Path.cwd())
