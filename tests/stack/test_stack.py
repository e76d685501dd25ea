"""The real stack, driven the way `make demo` drives it: `python -m deployments.stack demo`.

A Prefect server, the `kops-nlb` work pool, a worker, `prefect deploy --all` and the twin, all on
their own free ports, PREFECT_HOME and twin home (never the user's demo), then provision/local and
verify/local through the worker. Checked through the Prefect API; torn down leaving no process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from deployments.stack import procs
from deployments.stack.settings import Stack
from sandbox.config import SandboxConfig

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SLUG = "nlb-local-k8s-local"
EXPECTED = {
    "provision/dev",
    "verify/dev",
    "teardown/dev",
    "provision/local",
    "verify/local",
    "teardown/local",
    "plan/dev",
    "plan/local",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class StackUnderTest:
    """A stack in temporary directories, and the output of its first `demo`."""

    env: dict[str, str]
    stack: Stack
    first_demo: subprocess.CompletedProcess[str] | None = None
    seen: list[procs.ProcessInfo] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployments.stack", *args],
            check=False,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def parts(self) -> list[procs.ProcessInfo]:
        """The stack's live twin, server and worker processes."""
        return [
            info
            for pid_file, matches in (
                (self.stack.twin_pid_file, procs.is_twin),
                (self.stack.server_pid_file, procs.is_server),
                (self.stack.worker_pid_file, procs.is_worker),
            )
            if (info := procs.owned(pid_file, self.stack, matches)) is not None
        ]

    def running(self) -> list[procs.ProcessInfo]:
        """The stack's live processes and all their descendants."""
        parts = self.parts()
        return parts + [child for info in parts for child in procs.descendants(info.pid)]

    @contextmanager
    def client(self) -> Iterator[Any]:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings(updates={PREFECT_API_URL: self.stack.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackUnderTest]:
    tmp = tmp_path_factory.mktemp("stack")
    # Loopback ranges of its own (the demo uses 127.20/16 and 127.96/12, e2e tests 127.30-149),
    # and ports the twin picks itself: endpoints.json tells the stack where it listens.
    octet = 200 + os.getpid() % 25 * 2
    twin = SandboxConfig.instant(vpc_cidr=f"127.{octet}.0.0/16", pod_cidr=f"127.{octet + 1}.0.0/16")
    (tmp / "sandbox.toml").write_text(twin.to_toml())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SANDBOX_"))}
    env |= {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_API_PORT": str(free_port()),
        "SANDBOX_HOME": str(tmp / "sandbox"),
        "SANDBOX_CONFIG": str(tmp / "sandbox.toml"),
    }
    under_test = StackUnderTest(env=env, stack=Stack.from_env(env, root=ROOT))
    try:
        under_test.first_demo = under_test.run("demo", timeout=480)
        under_test.seen = under_test.running()
        yield under_test
    finally:
        under_test.run("down")


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


def test_deploy_all_registers_every_deployment(stack: StackUnderTest) -> None:
    endpoints = json.loads(stack.stack.twin_endpoints.read_text())
    with stack.client() as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = {f"{flows[d.flow_id]}/{d.name}": d for d in client.read_deployments()}
    assert set(deployments) == EXPECTED
    for name, deployment in deployments.items():
        assert deployment.work_pool_name == "kops-nlb"
        assert deployment.pull_steps == [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": str(ROOT)  # `{{ $PWD }}`, resolved at deploy time
                }
            }
        ], name
    dev_schedules = {s.slug: s.active for s in deployments["verify/dev"].schedules}
    local_schedules = {s.slug: s.active for s in deployments["verify/local"].schedules}
    assert dev_schedules == {"verify-dev-every-30m": False}  # real AWS: off on a local server
    assert local_schedules == {"verify-local-every-5m": True}
    for serial in ("provision/dev", "teardown/dev", "provision/local", "teardown/local"):
        assert deployments[serial].global_concurrency_limit.limit == 1
        assert deployments[serial].concurrency_options.collision_strategy == "CANCEL_NEW"
    assert deployments["teardown/dev"].parameters["require_approval"] is True
    # This stack's twin listens elsewhere than prefect.yaml says: the local deployments follow it.
    for flow in ("provision", "verify", "teardown"):
        local = deployments[f"{flow}/local"]
        assert local.job_variables["env"]["AWS_ENDPOINT_URL"] == endpoints["aws"]
        assert local.parameters["spec"]["kops_executable"] == endpoints["kops"]
        assert local.parameters["spec"]["kubeconfig_path"].startswith(str(stack.stack.sandbox_home))
        assert "AWS_ENDPOINT_URL" not in deployments[f"{flow}/dev"].job_variables.get("env", {})


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
    assert set(lines) == {"twin", "server", "worker"}
    assert all(" running " in line for line in lines.values())
    assert stack.stack.ui_url in lines["server"]


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
