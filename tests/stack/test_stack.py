"""The real stack as a team runs it: `python -m deployments.stack demo` with `STACK_DB=postgres`.

A PostgreSQL the stack starts itself, a Prefect server on it, the `kops-nlb` work pool, a worker,
`prefect deploy --all` and the twin, all on their own free ports, PREFECT_HOME and twin home (never
the user's demo); then provision/local and verify/local through the worker, checked through the
Prefect API, the database and the UI in a real browser (Debian's Chromium, headless); then `down`,
which leaves no process. One stack serves every test: the SQLite one `make demo` starts by default
differs from it only in the server's database URL, which tests/stack/test_stack_parts.py checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from deployments.alerts import FAILING, SILENT, SLO_BREACHED, AlertSettings, ensure_alerts
from deployments.stack import postgres, procs
from deployments.stack.report import table_rows
from deployments.stack.settings import POSTGRES_SYSTEM_USER
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kube.client import kube_api
from sandbox.switches import NO_PROXY
from tests.e2e.prefect_runs import wait_for_firing
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


EXPECTED = {
    "provision/dev",
    "verify/dev",
    "teardown/dev",
    "provision/local",
    "verify/local",
    "teardown/local",
    "provision/dev-k8s",
    "verify/dev-k8s",
    "teardown/dev-k8s",
    "plan/dev",
    "plan/local",
    "resilience/dev",
    "resilience/local",
}


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


def completed_runs(stack: StackUnderTest, flow: str) -> list[Any]:
    """The Completed `<flow>/local` runs, latest first (there is at least one)."""
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
    return list(runs)


def completed_run(stack: StackUnderTest, flow: str) -> Any:
    """The latest Completed `<flow>/local` run."""
    return completed_runs(stack, flow)[0]


def test_demo_on_postgres_provisions_and_verifies_the_twin(stack: StackUnderTest) -> None:
    assert stack.first_demo is not None
    text = output(stack.first_demo)
    assert stack.first_demo.returncode == 0, text
    assert re.search(r"postgres: ready in [\d.]+s, database prefect", text), text
    assert f"server: prefect server start (PostgreSQL {stack.stack.database_url}" in text
    assert "provision/local: Changed:" in text
    assert re.search(r"client_ip_preserved\s+pass\s", text), text
    assert "FAIL" not in text
    assert f"Prefect UI: {stack.stack.ui_url}" in text
    # Nothing of the user's own stack was touched.
    assert str(ROOT / ".prefect") not in text
    # The generated password is in the 0600 passfile only: not in any output or log.
    secret = password(stack)
    assert len(secret) >= 24
    assert stack.stack.postgres_passfile.stat().st_mode & 0o777 == 0o600
    for log in (stack.stack.server_log, stack.stack.worker_log, stack.stack.postgres_log):
        assert secret not in log.read_text(errors="replace"), log
    assert secret not in text


def test_the_demo_runs_a_real_apiserver_and_real_nginx(stack: StackUnderTest) -> None:
    """What `make demo` leaves: the kubeconfig real kops exported leads to a real kube-apiserver
    (its version, its own 422 for an invalid Service), each pod answers as nginx itself, and what
    `pods/log` returns is the access line nginx wrote for that very request."""
    spec = EnvironmentSpec(cluster_name="nlb-local.k8s.local")
    # The server is the internal API load balancer's name: reached through the twin's VPC proxy,
    # as the worker reaches it.
    proxy = json.loads(stack.stack.twin_endpoints.read_text())["proxy"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HTTPS_PROXY", proxy)
        env.setenv("NO_PROXY", NO_PROXY)
        api = kube_api(str(stack.stack.sandbox_home / "kube" / f"{spec.cluster_name}.yaml"))
    assert api.configuration.host.endswith(".elb.ap-northeast-1.amazonaws.com")
    assert client.VersionApi(api).get_code().git_version.startswith("v1.36.")
    core = client.CoreV1Api(api)
    invalid = {"metadata": {"name": "invalid"}, "spec": {"ports": [{"port": 70000}]}}
    with pytest.raises(client.ApiException) as rejected:
        core.create_namespaced_service(spec.namespace, invalid, dry_run="All")
    assert rejected.value.status == 422
    assert "Invalid value: 70000" in json.loads(rejected.value.body)["message"]
    pods = core.list_namespaced_pod(spec.namespace, label_selector="app=" + spec.deployment_name)
    assert len(pods.items) == spec.nginx_replicas
    for pod in pods.items:
        marker = f"stack-test-{pod.metadata.name}"
        request = urllib.request.Request(
            f"http://{pod.status.pod_ip}/", headers={"User-Agent": marker}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert re.fullmatch(r"nginx/[\d.]+", answer.headers["Server"])
        # nginx writes the access line once the response is sent: the reply can come first.
        deadline = time.monotonic() + 10
        while True:
            logged = core.read_namespaced_pod_log(pod.metadata.name, spec.namespace, tail_lines=200)
            found = [line for line in logged.splitlines() if marker in line]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        [line] = found
        assert re.fullmatch(rf'\S+ - - \[[^]]+\] "GET / HTTP/1.1" 200 \d+ "-" "{marker}" "-"', line)


def test_deploy_all_registers_every_deployment(stack: StackUnderTest) -> None:
    endpoints = json.loads(stack.stack.twin_endpoints.read_text())
    with stack.client() as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = {f"{flows[d.flow_id]}/{d.name}": d for d in client.read_deployments()}
    assert set(deployments) == EXPECTED
    for name, deployment in deployments.items():
        in_image = name.endswith("/dev-k8s")  # a Job of the Kubernetes pool: code in the image
        assert deployment.work_pool_name == ("kops-nlb-k8s" if in_image else "kops-nlb")
        assert deployment.pull_steps == [
            {
                "prefect.deployments.steps.set_working_directory": {
                    # `{{ $PWD }}`, resolved at deploy time
                    "directory": "/opt/kops-nlb-flows" if in_image else str(ROOT)
                }
            }
        ], name
    dev_schedules = {s.slug: s.active for s in deployments["verify/dev"].schedules}
    local_schedules = {s.slug: s.active for s in deployments["verify/local"].schedules}
    assert dev_schedules == {"verify-dev-every-30m": False}  # real AWS: off on a local server
    k8s_schedules = {s.slug: s.active for s in deployments["verify/dev-k8s"].schedules}
    assert k8s_schedules == {"verify-dev-k8s-every-30m": False}
    assert local_schedules == {"verify-local-every-5m": True}
    serials = ("provision/dev", "teardown/dev", "provision/local", "teardown/local")
    for serial in (*serials, "provision/dev-k8s", "teardown/dev-k8s"):
        assert deployments[serial].global_concurrency_limit.limit == 1
        assert deployments[serial].concurrency_options.collision_strategy == "CANCEL_NEW"
    assert deployments["teardown/dev"].parameters["require_approval"] is True
    # This stack's twin listens elsewhere than prefect.yaml says: the local deployments follow it.
    for flow in ("provision", "verify", "teardown"):
        local = deployments[f"{flow}/local"]
        env = local.job_variables["env"]
        assert env["AWS_ENDPOINT_URL"] == endpoints["aws"]
        assert env["KOPS_NLB_KOPS"] == endpoints["kops"]
        assert env["KOPS_NLB_KUBECONFIG_DIR"].startswith(str(stack.stack.sandbox_home))
        assert not {"kops_executable", "kubeconfig_path"} & set(local.parameters["spec"])
        assert "AWS_ENDPOINT_URL" not in deployments[f"{flow}/dev"].job_variables.get("env", {})


def test_the_kubernetes_pool_is_created_from_the_projects_template(stack: StackUnderTest) -> None:
    from deployments.kubernetes_pool.job import POOL, load_template

    with stack.client() as client:
        pool = client.read_work_pool(POOL)
    assert pool.type == "kubernetes"
    assert pool.base_job_template == load_template()


def test_completed_runs_left_their_artifacts(stack: StackUnderTest) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    keys: dict[str, set[str]] = {}
    for flow in ("provision", "verify"):
        runs = completed_runs(stack, flow)
        with stack.client() as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs])
                )
            )
        keys[flow] = {a.key for a in artifacts if a.key}
    assert f"provision-{CLUSTER_SLUG}" in keys["provision"]
    assert {f"verify-checks-{CLUSTER_SLUG}", f"verify-evidence-{CLUSTER_SLUG}"} <= keys["verify"]


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


def test_status_names_every_running_part(stack: StackUnderTest) -> None:
    result = stack.run("status")
    assert result.returncode == 0, output(result)
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert set(lines) == {"twin", "server", "worker", "database"}
    assert all(" running " in line for line in lines.values())
    assert stack.stack.ui_url in lines["server"]
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


def test_up_again_reuses_everything_and_provision_changes_nothing(stack: StackUnderTest) -> None:
    """What a second `make demo` does, without its verify run (the slow part of this test)."""
    before = {p.pid for p in stack.parts()}
    assert len(before) == 4  # the twin, PostgreSQL, the server and the worker
    result = stack.run("up", timeout=240)
    text = output(result)
    assert result.returncode == 0, text
    assert "twin already running" in text
    assert "postgres: already running" in text
    assert "server: already running" in text
    assert "worker: already running" in text
    assert {p.pid for p in stack.parts()} == before
    provision = subprocess.run(
        stack.stack.prefect("deployment", "run", "provision/local", "--watch"),
        check=False,
        cwd=ROOT,
        env=stack.stack.environment(stack.env),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert provision.returncode == 0, output(provision)
    with stack.client() as client:
        (summary,) = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[f"provision-{CLUSTER_SLUG}"])
            )
        )
    assert "Nothing changed" in str(summary.data)


def test_up_made_the_alerts_and_a_stopped_worker_pages_for_silence(
    stack: StackUnderTest,
) -> None:
    """`up` created the three alerts once; with the worker stopped no verification completes,
    and the silence alert fires (its schedule tuned down to 6 s here: silence after 12 s)."""
    worker = procs.owned(stack.stack.worker_pid_file, stack.stack, procs.is_worker)
    assert worker is not None
    with stack.client() as client:
        for name in (FAILING, SLO_BREACHED, SILENT):
            assert len(client.read_automations_by_name(name)) == 1, name
        os.kill(worker.pid, signal.SIGKILL)  # a worker that died, as a crashed machine's does
        deadline = time.monotonic() + 30
        while procs.alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not procs.alive(worker)
        stopped = datetime.now(UTC)
        (silent, _) = ensure_alerts(AlertSettings(schedule_interval_s=6))[SILENT]
        fired = wait_for_firing(silent)
    assert fired >= stopped + timedelta(seconds=12)


def test_down_stops_what_it_started_and_nothing_else(stack: StackUnderTest) -> None:
    started = stack.running() + stack.seen
    assert len(started) >= 3
    pg = postgres.running(stack.stack)
    assert pg is not None
    result = stack.run("down")
    assert result.returncode == 0, output(result)
    assert f"postgres stopped (pid {pg.pid})" in result.stdout
    assert not [p for p in started if procs.alive(p)]
    assert not stack.stack.postgres_pid_file.exists()
    status = stack.run("status")
    assert status.returncode == 1
    assert "database  stopped" in status.stdout
    home = str(stack.stack.prefect_home)
    leftovers = [
        info
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (info := procs.read_process(int(entry.name))) is not None
        and (
            info.environ.get("PREFECT_HOME") == home
            or any(str(stack.stack.sandbox_home) in arg for arg in info.argv)
        )
    ]
    assert leftovers == []

    # Stale pid files that now name someone else's process: removed, that process left alone.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid_file in (
            stack.stack.worker_pid_file,
            stack.stack.server_pid_file,
            stack.stack.twin_pid_file,
        ):
            pid_file.write_text(f"{decoy.pid}\n")
        again = stack.run("down")
        assert again.returncode == 0, output(again)
        assert decoy.poll() is None
        assert "removed stale pid file" in again.stdout
        assert not stack.stack.worker_pid_file.exists()
        assert not stack.stack.server_pid_file.exists()
        assert not stack.stack.twin_pid_file.exists()
    finally:
        decoy.kill()
        decoy.wait()
