"""The real stack, driven the way `make demo` drives it: `python -m deployments.stack demo`.

A Prefect server, the `kops-nlb` work pool, a worker, `prefect deploy --all` and the twin, all on
their own free ports, PREFECT_HOME and twin home (never the user's demo), then provision/local and
verify/local through the worker. Checked through the Prefect API; torn down leaving no process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from deployments.alerts import FAILING, SILENT, SLO_BREACHED, AlertSettings, ensure_alerts
from deployments.stack import procs
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kube.client import kube_api
from sandbox.config import NO_PROXY
from tests.e2e.prefect_runs import wait_for_firing
from tests.stack.harness import (
    CLUSTER_SLUG,
    ROOT,
    StackUnderTest,
    demo_stack,
    output,
    stack_env,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

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
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackUnderTest]:
    tmp = tmp_path_factory.mktemp("stack")
    with demo_stack(stack_env(tmp)) as under_test:
        yield under_test


def test_demo_provisions_and_verifies_the_twin(stack: StackUnderTest) -> None:
    assert stack.first_demo is not None
    text = output(stack.first_demo)
    assert stack.first_demo.returncode == 0, text
    assert "provision/local: Changed:" in text
    assert re.search(r"client_ip_preserved\s+pass\s", text), text
    assert "FAIL" not in text
    assert f"Prefect UI: {stack.stack.ui_url}" in text
    # Nothing of the user's own stack was touched.
    assert str(ROOT / ".prefect") not in text


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
        logged = core.read_namespaced_pod_log(pod.metadata.name, spec.namespace, tail_lines=20)
        [line] = [line for line in logged.splitlines() if marker in line]
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
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    completed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
    )
    with stack.client() as client:
        keys: dict[str, set[str]] = {}
        for flow in ("provision", "verify"):
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["local"])),
                flow_run_filter=completed,
            )
            assert runs, f"no completed {flow}/local run"
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs])
                )
            )
            keys[flow] = {a.key for a in artifacts if a.key}
    assert f"provision-{CLUSTER_SLUG}" in keys["provision"]
    assert {f"verify-checks-{CLUSTER_SLUG}", f"verify-evidence-{CLUSTER_SLUG}"} <= keys["verify"]


def test_status_names_every_running_part(stack: StackUnderTest) -> None:
    result = stack.run("status")
    assert result.returncode == 0, output(result)
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert set(lines) == {"twin", "server", "worker", "database"}
    assert all(" running " in line for k, line in lines.items() if k != "database")
    assert stack.stack.ui_url in lines["server"]
    assert f"SQLite {stack.stack.sqlite_file}" in lines["database"]


def test_up_again_reuses_everything_and_provision_changes_nothing(stack: StackUnderTest) -> None:
    """What a second `make demo` does, without its verify run (the slow part of this test)."""
    before = {p.pid for p in stack.parts()}
    assert len(before) == 3
    result = stack.run("up", timeout=240)
    text = output(result)
    assert result.returncode == 0, text
    assert "twin already running" in text
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
    result = stack.run("down")
    assert result.returncode == 0, output(result)
    assert not [p for p in started if procs.alive(p)]
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
