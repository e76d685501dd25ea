"""Prefect's test harness on a database migrated once per test run, not once per session.

``prefect_test_harness`` gives each session a new SQLite database, which its server migrates
from scratch when it starts: about 5 of the 9 CPU-seconds the server takes to come up, paid by
every xdist worker. Here the first worker migrates a template, under a lock in the directory
the workers share, and every harness database starts as a copy of it.
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

from sandbox.controlplane.boot import free_port

HARNESS_DATABASE = "prefect-test.db"  # the name prefect_test_harness gives its database


def _migrate(database: Path) -> None:
    """Start and stop a Prefect server on ``database``: it migrates it as it starts."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface

    url = f"sqlite+aiosqlite:///{database}"
    settings = temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: url})
    with settings, temporary_database_interface():
        server = SubprocessASGIServer(port=free_port())
        server.start(timeout=90)
        server.stop()
    # The server writes ahead to a -wal file; fold it in, so the one file is the whole database.
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")


def migrated_template(shared: Path) -> Path:
    """Return a migrated database in ``shared``, migrating it if no one has yet."""
    template = shared / f"prefect-{prefect.__version__}.db"
    with (shared / f"{template.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = shared / f"{template.name}.building"
            building.unlink(missing_ok=True)
            _migrate(building)
            building.rename(template)
    return template


@contextmanager
def harness_on(template: Path) -> Iterator[None]:
    """``prefect_test_harness`` whose server starts on a copy of ``template``, unmigrated.

    Its server does not record task runs from their events: no test reads them back, and
    recording them was a quarter of the server's work while the flows ran.
    """

    def seeded_directory() -> str:
        directory = tempfile.mkdtemp()
        shutil.copyfile(template, Path(directory) / HARNESS_DATABASE)
        return directory

    original = utilities.mkdtemp
    utilities.mkdtemp = seeded_directory  # type: ignore[attr-defined]
    try:
        settings = temporary_settings(
            {
                PREFECT_API_DATABASE_MIGRATE_ON_START: False,
                PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED: False,
            }
        )
        with settings, utilities.prefect_test_harness(server_startup_timeout=90):
            yield
    finally:
        utilities.mkdtemp = original  # type: ignore[attr-defined]
