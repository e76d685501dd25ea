"""`python -m sandbox up`, then the flows with nothing but `.sandbox/env` sourced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from tests import loopback

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_FLOWS = """
from flows.provision import provision
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy

spec = EnvironmentSpec(
    cluster_name="cli.k8s.local",
    poll=PollPolicy(initial=0.2, cap=1.0),
)
print("PROVISIONED", provision(spec=spec).nlb_dns_name)
print("VERIFIED", verify(spec=spec).passed)
"""


@pytest.fixture
def sandbox_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "sandbox"
    addresses = loopback.claim()  # apart from the session twin's, which runs at the same time
    config = SandboxConfig.instant(vpc_cidr=addresses.vpc_cidr, pod_cidr=addresses.pod_cidr)
    config_file = tmp_path / "sandbox.toml"
    config_file.write_text(config.to_toml())
    command = [sys.executable, "-m", "sandbox"]
    up = subprocess.run(
        [*command, "up", "--home", str(home), "--config", str(config_file)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield home
    finally:
        down = subprocess.run(
            [*command, "down", "--home", str(home)],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert down.returncode == 0, down.stderr


def test_flows_run_with_only_the_env_file_sourced(sandbox_home: Path, tmp_path: Path) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "sandbox", "status", "--home", str(sandbox_home)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0 and "twin running" in status.stdout
    endpoints = json.loads((sandbox_home / "endpoints.json").read_text())
    assert endpoints["aws"].startswith("http://127.0.0.1:")
    script = RUN_FLOWS
    # A clean environment: no AWS or Prefect settings from this process, only the env file.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SANDBOX_"))}
    clean["PREFECT_API_URL"] = ""  # an ephemeral Prefect API of its own
    clean["KOPS_NLB_KUBECONFIG_DIR"] = str(tmp_path / "kube")  # the worker's setting
    clean["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    run = subprocess.run(
        ["bash", "-c", f'source "{sandbox_home}/env" && exec "{sys.executable}" -c "$0"', script],
        check=False,
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "PROVISIONED a" in run.stdout
    assert "VERIFIED True" in run.stdout
