"""Prefect's test harness on a database migrated once per Prefect version, not at every start.

``prefect_test_harness`` gives each start a new SQLite database, which its server migrates from
scratch: about 5 of the 9 CPU-seconds (and most of the 12 s) it takes to come up. Here the first
start migrates a template in the project's cache directory, under a lock that concurrent starts
share, and every harness starts on a copy of it.
"""

from __future__ import annotations

import fcntl
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import prefect
from prefect.settings import (
    PREFECT_API_DATABASE_MIGRATE_ON_START,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
    temporary_settings,
)
from prefect.testing import utilities

from sandbox.controlplane.binaries import cache_root

HARNESS_DATABASE = "prefect-test.db"  # the name prefect_test_harness gives its database


def cache_directory() -> Path:
    """Where migrated templates are kept: the project's cache, beside the built programs."""
    return cache_root() / "prefect"


def _migrate(database: Path) -> None:
    """Start and stop a Prefect server on ``database``: it migrates it as it starts."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface

    from sandbox.controlplane.boot import free_port

    url = f"sqlite+aiosqlite:///{database}"
    settings = temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: url})
    with settings, temporary_database_interface():
        server = SubprocessASGIServer(port=free_port())
        server.start(timeout=120)
        server.stop()
    # The server writes ahead to a -wal file; fold it in, so the one file is the whole database.
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")


def migrated_template(directory: Path | None = None) -> Path:
    """Return a migrated database in ``directory`` (the cache), migrating it if no one has yet."""
    directory = directory or cache_directory()
    directory.mkdir(parents=True, exist_ok=True)
    template = directory / f"prefect-{prefect.__version__}.db"
    with (directory / f"{template.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = directory / f"{template.name}.building"
            building.unlink(missing_ok=True)
            _migrate(building)
            building.rename(template)
    return template


@contextmanager
def harness(
    *, record_task_runs: bool = True, startup_timeout: int = 120, template: Path | None = None
) -> Iterator[None]:
    """``prefect_test_harness`` whose server starts on a copy of the migrated template.

    Without ``record_task_runs`` the server does not record task runs from their events (a
    quarter of its work while flows run), for callers that never read them back.
    """
    migrated = template or migrated_template()

    def seeded_directory() -> str:
        directory = tempfile.mkdtemp()
        shutil.copyfile(migrated, Path(directory) / HARNESS_DATABASE)
        return directory

    original = utilities.mkdtemp
    utilities.mkdtemp = seeded_directory  # type: ignore[assignment]
    try:
        settings = temporary_settings(
            {
                PREFECT_API_DATABASE_MIGRATE_ON_START: False,
                PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED: record_task_runs,
            }
        )
        with settings, utilities.prefect_test_harness(server_startup_timeout=startup_timeout):
            yield
    finally:
        utilities.mkdtemp = original
