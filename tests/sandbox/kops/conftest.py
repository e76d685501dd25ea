"""Fixtures for the kops twin: moto over HTTP, a state-store bucket, the twin's Kubernetes API,
and a ``kops`` callable that runs the CLI in this process (a fresh command line each call)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kops_support import REGION, Kops
from moto.server import ThreadedMotoServer

from sandbox.config import SandboxConfig


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on a free loopback port for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def twin_config(tmp_path: Path) -> Path:
    """A sandbox config with no delays and no faults; tests rewrite it to inject some."""
    path = tmp_path / "sandbox.toml"
    path.write_text(SandboxConfig.instant().to_toml())
    return path


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path, twin_config: Path
) -> dict[str, str]:
    """The environment a kops run sees: moto endpoint, dummy credentials, a private HOME."""
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "twin",
        "AWS_SECRET_ACCESS_KEY": "twin",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "home" / ".kube" / "config"),
        "SANDBOX_CONFIG": str(twin_config),
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "KOPS_STATE_STORE", "KOPS_CLUSTER_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SANDBOX_KUBE_API_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def state_store(aws_env: dict[str, str]) -> str:
    """A fresh state-store bucket (``s3://...``)."""
    bucket = f"kops-state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return f"s3://{bucket}"


@pytest.fixture
def cluster_name() -> str:
    """A cluster name no other test uses (moto's state is shared by the session)."""
    return f"t{uuid.uuid4().hex[:8]}.k8s.local"


@pytest.fixture
def kops(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Kops:
    """``kops(*args)`` → Run(code, out, err)."""
    return Kops(monkeypatch)


@pytest.fixture(scope="session")
def kube_server() -> Iterator[Any]:
    """The twin's Kubernetes API server (sandbox.k8s), started once."""
    k8s = pytest.importorskip("sandbox.k8s")
    server = k8s.KubeApiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kube(kube_server: Any, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str]) -> Any:
    """The Kubernetes API, emptied, with ``SANDBOX_KUBE_API_URL`` pointing at it."""
    kube_server.reset()
    monkeypatch.setenv("SANDBOX_KUBE_API_URL", kube_server.url)
    return kube_server
