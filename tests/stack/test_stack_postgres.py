"""The stack as a team runs it: `make demo DB=postgres`, and what the UI shows of a verification.

One stack (the machinery of test_stack.py) on a PostgreSQL the stack starts itself, provisioned
and verified through the worker; then the UI in a real browser (Debian's Chromium, headless) at
the finished verify/local run; then `down`, which stops PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.stack import postgres, procs
from deployments.stack.report import table_rows
from deployments.stack.settings import POSTGRES_SYSTEM_USER
from tests.stack import browser
from tests.stack.harness import (
    CLUSTER_SLUG,
    ROOT,
    StackUnderTest,
    demo_stack,
    free_port,
    output,
    stack_env,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

CHECKS_KEY = f"verify-checks-{CLUSTER_SLUG}"
# Where the browser test saves what it saw: an ignored folder, so a test run leaves git clean;
# `make docs-screenshot` points it at docs/ to refresh the picture the README shows.
SCREENSHOT = Path(
    os.environ.get("KOPS_NLB_UI_SCREENSHOT", ROOT / ".prefect" / "verify-checks-in-the-ui.png")
)


@pytest.fixture(scope="module")
def stack() -> Iterator[StackUnderTest]:
    # PostgreSQL runs as kops-nlb-pg under a root stack and must reach its data directory:
    # pytest's own tmp folders are 0700, so this stack lives in a traversable one.
    tmp = Path(tempfile.mkdtemp(prefix="kops-nlb-stack-pg-"))
    tmp.chmod(0o711)
    env = stack_env(tmp, STACK_DB="postgres", STACK_POSTGRES_PORT=str(free_port()))
    try:
        with demo_stack(env) as under_test:
            yield under_test
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def password(stack: StackUnderTest) -> str:
    return stack.stack.postgres_passfile.read_text().strip().rsplit(":", 1)[1]


def completed_run(stack: StackUnderTest, flow: str) -> Any:
    """The latest Completed `<flow>/local` run."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with stack.client() as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["local"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
            ),
        )
    assert runs, f"no completed {flow}/local run"
    return runs[0]


def test_demo_on_postgres_provisions_and_verifies_the_twin(stack: StackUnderTest) -> None:
    assert stack.first_demo is not None
    text = output(stack.first_demo)
    assert stack.first_demo.returncode == 0, text
    assert re.search(r"postgres: ready in [\d.]+s, database prefect", text), text
    assert f"server: prefect server start (PostgreSQL {stack.stack.database_url}" in text
    assert "provision/local: Changed:" in text
    assert re.search(r"client_ip_preserved\s+pass\s", text), text
    assert "FAIL" not in text
    # The generated password is in the 0600 passfile only: not in any output or log.
    secret = password(stack)
    assert len(secret) >= 24
    assert stack.stack.postgres_passfile.stat().st_mode & 0o777 == 0o600
    for log in (stack.stack.server_log, stack.stack.worker_log, stack.stack.postgres_log):
        assert secret not in log.read_text(errors="replace"), log
    assert secret not in text


def test_postgres_started_by_the_stack_holds_the_prefect_database(stack: StackUnderTest) -> None:
    pg = postgres.running(stack.stack)
    assert pg is not None
    assert pg.argv[0].startswith("/usr/lib/postgresql/")
    if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the stack's system user
        uid = int(Path(f"/proc/{pg.pid}/status").read_text().split("Uid:")[1].split()[0])
        assert pwd.getpwuid(uid).pw_name == POSTGRES_SYSTEM_USER
    # The server was pointed at it (no password in that URL), and SQLite was never created.
    server = procs.owned(stack.stack.server_pid_file, stack.stack, procs.is_server)
    assert server is not None
    assert server.environ["PREFECT_API_DATABASE_CONNECTION_URL"] == stack.stack.database_url
    assert not stack.stack.sqlite_file.exists()
    # It listens on loopback only.
    listening = subprocess.run(
        ["ss", "-H", "-ltn", f"sport = :{stack.stack.postgres_port}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert [a for a in listening if ":" in a and a.endswith(f":{stack.stack.postgres_port}")] == [
        f"127.0.0.1:{stack.stack.postgres_port}"
    ]

    async def rows() -> tuple[int, list[str]]:
        import asyncpg

        connection = await asyncpg.connect(
            host="127.0.0.1",
            port=stack.stack.postgres_port,
            user="prefect",
            database="prefect",
            passfile=str(stack.stack.postgres_passfile),
        )
        try:
            completed = await connection.fetchval(
                "select count(*) from flow_run join flow on flow.id = flow_run.flow_id "
                "where flow.name = 'verify' and flow_run.state_type = 'COMPLETED'"
            )
            keys = await connection.fetch("select distinct key from artifact where key <> ''")
        finally:
            await connection.close()
        return int(completed), [str(k["key"]) for k in keys]

    completed, keys = asyncio.run(rows())
    assert completed >= 1
    assert CHECKS_KEY in keys


def test_status_names_the_database(stack: StackUnderTest) -> None:
    result = stack.run("status")
    assert result.returncode == 0, output(result)
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    pg = postgres.running(stack.stack)
    assert pg is not None
    assert f"running  pid {pg.pid}  PostgreSQL {stack.stack.database_url}" in lines["database"]


def test_the_ui_shows_the_verification_checks(stack: StackUnderTest) -> None:
    run = completed_run(stack, "verify")
    with stack.client() as client:
        (artifact,) = [
            a for a in client.read_artifacts() if a.key == CHECKS_KEY and a.flow_run_id == run.id
        ]
    published = {row["check"]: row["result"] for row in table_rows(artifact.data)}
    with browser.chromium() as session:
        browser.open_artifact_from_run(session, stack.stack.ui_url, str(run.id), CHECKS_KEY)
        shown = browser.rendered_table(session)
        browser.screenshot(session, SCREENSHOT)
    assert {row["check"]: row["result"] for row in shown} == published
    assert set(published.values()) == {"pass"}
    assert "client_ip_preserved" in published
    assert all(row["detail"] for row in shown)
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")


def test_the_ui_check_fails_when_the_run_has_no_checks_artifact(stack: StackUnderTest) -> None:
    run = completed_run(stack, "provision")  # its artifacts are provisioning's, not the checks
    with browser.chromium() as session, pytest.raises(browser.NotShown, match=CHECKS_KEY):
        browser.open_artifact_from_run(session, stack.stack.ui_url, str(run.id), CHECKS_KEY)


def test_down_stops_postgres(stack: StackUnderTest) -> None:
    pg = postgres.running(stack.stack)
    assert pg is not None
    started = stack.running()
    result = stack.run("down")
    assert result.returncode == 0, output(result)
    assert f"postgres stopped (pid {pg.pid})" in result.stdout
    assert not [p for p in started if procs.alive(p)]
    assert not stack.stack.postgres_pid_file.exists()
    again = stack.run("status")
    assert again.returncode == 1
    assert "database  stopped" in again.stdout
