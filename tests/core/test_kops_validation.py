"""kops validation output turned into observations (pure)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from kops_nlb.core.spec import EnvironmentSpec
from sandbox.config import Delays, SandboxConfig
from sandbox.kops import install_executable
from tasks import _progress as progress
from tasks import cluster

# --- the twin ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto over HTTP, which the kops subprocesses reach through AWS_ENDPOINT_URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def kube_api() -> Iterator[Any]:
    """The twin's Kubernetes API, with the twin's kubelet as a reconciler (as sandbox/world.py)."""
    k8s = pytest.importorskip("sandbox.k8s")
    from sandbox.kops.kubelet import mark_ready_nodes

    server = k8s.KubeApiServer()
    server.add_reconciler(mark_ready_nodes)
    server.start()
    yield server
    server.stop()


class Twin:
    """The emulated kops on PATH, its argv log, and a state store."""

    def __init__(self, home: Path, state_store: str) -> None:
        self.home = home
        self.state_store = state_store
        self.log = home / "argv.jsonl"

    def argv(self) -> list[list[str]]:
        """Every kops command line run so far."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def twin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str, kube_api: Any, region: str
) -> Twin:
    """kops (the twin) first on PATH, AWS at moto, the working directory in tmp_path."""
    config = tmp_path / "sandbox.toml"
    delays = Delays(**{name: 0.0 for name in Delays.__dataclass_fields__})
    config.write_text(
        SandboxConfig.instant(delays=Delays(**{**delays.__dict__, "node_ready": 1.0})).to_toml()
    )
    bin_dir = install_executable(
        tmp_path / "bin", kube_api_url=kube_api.url, config_path=config
    ).parent
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "twin",
        "AWS_SECRET_ACCESS_KEY": "twin",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "HOME": str(tmp_path / "home"),
        "SANDBOX_KOPS_ARGV_LOG": str(tmp_path / "argv.jsonl"),
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "KOPS_STATE_STORE", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    bucket = f"kops-state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    return Twin(tmp_path, f"s3://{bucket}")


# --- fake kops executables for the error paths ---------------------------------------------------


def test_no_progress_artifact_outside_a_run(spec: EnvironmentSpec) -> None:
    report = progress.progress_reporter(
        key=cluster.VALIDATION_ARTIFACT_KEY,
        description=spec.cluster_name,
        logger=logging.getLogger("x"),
    )
    report(50.0)  # no server, no context: nothing happens
