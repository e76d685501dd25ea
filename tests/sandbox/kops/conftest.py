"""Fixtures for the kops twin: moto over HTTP, a state-store bucket, the machines a cluster's
instances run (a real control plane, simulated kubelets), and a ``kops`` callable that runs the
CLI in this process (a fresh command line each call)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from kops_support import REGION, Kops
from moto.server import ThreadedMotoServer

from sandbox.config import SandboxConfig
from sandbox.controlplane.front_proxy import FrontProxy
from sandbox.dataplane.pods import PodServers
from sandbox.kubelets.instances import InstanceHosts


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


@pytest.fixture
def machines(
    moto_url: str, cluster_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InstanceHosts]:
    """What boots on this test's cluster's instances: its real control plane and kubelets.

    Nodes stay NotReady until the test sets ``heartbeats.ready_delay`` to 0 (their boot time).
    ``SANDBOX_KUBE_API_URL`` points kops at the API front proxy.
    """
    proxy = FrontProxy()
    monkeypatch.setenv("SANDBOX_KUBE_API_URL", proxy.start())
    pods = PodServers(real_nginx=True, workdir=tmp_path / "pods")
    hosts = InstanceHosts(
        aws_url=moto_url,
        region=REGION,
        home=tmp_path / "twin",
        proxy=proxy,
        pods=pods,
        pod_cidr="127.97.0.0/16",
        ready_delay=3600.0,
        serves=lambda cluster: cluster == cluster_name,
    )
    hosts.start()
    yield hosts
    hosts.stop()
    proxy.stop()
    pods.stop_all()
