"""The cluster tasks (tasks/cluster.py), run as ``task.fn`` against kops executables on PATH:
the twin's emulated kops (sandbox/kops, with moto, and the real control plane and kubelets the
twin boots on the cluster's instances) for the whole lifecycle, and tiny fake scripts for the
error paths."""

from __future__ import annotations

import json
import logging
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from kops_nlb.core import kops as kops_cli
from kops_nlb.core.errors import KopsCommandError, SpecError, WaitTimeout, is_transient
from kops_nlb.core.spec import EnvironmentSpec, Timeouts
from kops_nlb.kops import worker
from sandbox.config import Delays, SandboxConfig
from sandbox.controlplane.front_proxy import FrontProxy
from sandbox.dataplane.pods import PodServers
from sandbox.kops.executable import install_executable
from sandbox.kubelets.instances import InstanceHosts
from tasks import _progress as progress
from tasks import cluster

HEALTHY = json.dumps({"nodes": [{"name": "n1", "role": "node", "status": "True"}]})
NOT_READY = json.dumps(
    {
        "failures": [
            {
                "type": "Machine",
                "name": "i-1",
                "message": 'machine "i-1" has not yet joined cluster',
            },
            {"type": "Node", "name": "n1", "message": 'node "n1" of role "node" is not ready'},
        ],
        "nodes": [{"name": "n1", "role": "node", "status": "False"}],
    }
)


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
def api_front() -> Iterator[FrontProxy]:
    """The API front proxy the kubeconfigs and kops point at (as sandbox/world.py runs it)."""
    proxy = FrontProxy()
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def machines(
    moto_url: str, api_front: FrontProxy, cluster_spec: EnvironmentSpec, tmp_path: Path, region: str
) -> Iterator[InstanceHosts]:
    """The control plane and kubelets of this test's cluster, booted when kops launches it."""
    pods = PodServers(real_nginx=True, workdir=tmp_path / "pods")
    hosts = InstanceHosts(
        aws_url=moto_url,
        region=region,
        home=tmp_path / "machines",
        proxy=api_front,
        pods=pods,
        pod_cidr="127.98.0.0/16",
        ready_delay=1.0,
        serves=lambda name: name == cluster_spec.cluster_name,
    )
    hosts.start()
    yield hosts
    hosts.stop()
    pods.stop_all()


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
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_url: str,
    api_front: FrontProxy,
    region: str,
) -> Twin:
    """kops (the twin) first on PATH, AWS at moto, the working directory in tmp_path."""
    config = tmp_path / "sandbox.toml"
    delays = Delays(**{name: 0.0 for name in Delays.__dataclass_fields__})
    config.write_text(
        SandboxConfig.instant(delays=Delays(**{**delays.__dict__, "node_ready": 1.0})).to_toml()
    )
    bin_dir = install_executable(
        tmp_path / "bin", kube_api_url=api_front.url, config_path=config
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


@pytest.fixture
def cluster_spec(spec: EnvironmentSpec) -> EnvironmentSpec:
    """The default spec with a cluster name of its own (moto's state outlives a test)."""
    return spec.model_copy(update={"cluster_name": f"t{uuid.uuid4().hex[:8]}.k8s.local"})


@pytest.fixture
def run_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> pytest.LogCaptureFixture:
    """The tasks' run logger as a plain logger whose records the test can read."""
    logger = logging.getLogger("tests.cluster")
    monkeypatch.setattr(cluster, "get_run_logger", lambda: logger)
    caplog.set_level(logging.INFO, logger="tests.cluster")
    return caplog


def test_a_cluster_kops_knows_but_never_built_is_applied_again(
    twin: Twin,
    cluster_spec: EnvironmentSpec,
    run_logs: pytest.LogCaptureFixture,
    region: str,
    machines: InstanceHosts,
) -> None:
    """A create that failed in the cloud leaves only the spec: ensure_cluster builds the rest."""
    spec, state = cluster_spec, twin.state_store
    spec_only = [a for a in kops_cli.create_cluster_argv(spec, state) if a != "--yes"]
    cluster.commands.run(spec, state, spec_only, logger=None)  # the spec, no cloud resources
    ec2 = boto3.client("ec2", region_name=region)
    tagged = [{"Name": "tag:KubernetesCluster", "Values": [spec.cluster_name]}]
    assert ec2.describe_vpcs(Filters=tagged)["Vpcs"] == []

    result = cluster.ensure_cluster.fn(spec, state)

    assert twin.argv()[-1] == kops_cli.update_cluster_argv(spec, state)
    assert (result.changed, result.created) == (False, frozenset())
    assert len(ec2.describe_vpcs(Filters=tagged)["Vpcs"]) == 1
    assert cluster.wait_for_cluster_valid.fn(spec, state).ok


def test_cluster_lifecycle_against_the_twin(
    twin: Twin,
    cluster_spec: EnvironmentSpec,
    run_logs: pytest.LogCaptureFixture,
    machines: InstanceHosts,
) -> None:
    spec, state = cluster_spec, twin.state_store

    assert cluster.check_kops_version.fn(spec) == "1.36.2"

    created = cluster.ensure_cluster.fn(spec, state)
    assert (created.step, created.changed) == ("cluster", True)
    assert created.ids == {"cluster": spec.cluster_name, "state_store": state}
    assert twin.argv() == [
        kops_cli.version_argv(),
        kops_cli.get_cluster_argv(spec, state),
        kops_cli.create_cluster_argv(spec, state),
    ]
    streamed = [r.getMessage() for r in run_logs.records]
    assert f"kops: kOps has set your kubectl context to {spec.cluster_name}" in streamed
    assert any("executor.go" in line for line in streamed)  # stderr lines too, as they come

    again = cluster.ensure_cluster.fn(spec, state)
    assert (again.changed, again.created) == (False, frozenset())
    assert twin.argv()[3:5] == [
        kops_cli.get_cluster_argv(spec, state),
        kops_cli.update_cluster_argv(spec, state),  # its VPC exists: applied again as it is
    ]

    report = cluster.wait_for_cluster_valid.fn(spec, state)
    assert report.ok
    assert (report.nodes_ready, report.nodes_expected) == (3, 3)
    validations = twin.argv()[5:]
    assert validations and all(
        argv == kops_cli.validate_cluster_argv(spec, state) for argv in validations
    )

    run_logs.clear()
    kubeconfig = twin.home / ".kube" / f"{spec.cluster_name}.yaml"
    assert cluster.export_kubeconfig.fn(spec, state) == str(kubeconfig)
    assert twin.argv()[-1] == kops_cli.export_kubecfg_argv(spec, state, str(kubeconfig))
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig.parent.stat().st_mode) == 0o700
    assert not any("client-key-data" in r.getMessage() for r in run_logs.records)
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        assert len(client.CoreV1Api(api).list_node().items) == 3
    finally:
        api.close()
    assert not (twin.home / "home" / ".kube").exists()  # the user's kubeconfig is never touched

    deleted = cluster.delete_cluster.fn(spec, state)
    assert deleted.changed is True
    assert twin.argv()[-2:] == [
        kops_cli.get_cluster_argv(spec, state),
        kops_cli.delete_cluster_argv(spec, state),
    ]
    assert cluster.delete_cluster.fn(spec, state).changed is False
    assert twin.argv()[-1] == kops_cli.get_cluster_argv(spec, state)


# --- fake kops executables for the error paths ---------------------------------------------------


def fake_kops(directory: Path, body: str) -> str:
    """Write an executable ``kops`` shell script; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kops"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake(tmp_path: Path, spec: EnvironmentSpec, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``fake(body, **spec_overrides)`` → a spec; the worker's kops is a script; cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)

    def make(body: str, **overrides: Any) -> EnvironmentSpec:
        monkeypatch.setenv(worker.KOPS_EXECUTABLE_ENV, fake_kops(tmp_path / "bin", body))
        return spec.model_copy(update=overrides)

    return make


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('echo "1.33.2"\n', "kops 1.33.2 is not supported: use 1.34 <= kops < 1.38"),
        ('echo "Client version: 1.38.0 (git-v1.38.0)"\n', "kops 1.38.0 is not supported"),
        ('echo "kops"\n', "cannot read the kops version"),
    ],
    ids=["too-old", "too-new", "garbage"],
)
def test_unsupported_kops_is_a_spec_error(
    fake: Any, no_run_logger: None, body: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        cluster.check_kops_version.fn(fake(body))


def test_a_missing_kops_is_a_spec_error(
    spec: EnvironmentSpec, tmp_path: Path, no_run_logger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(worker.KOPS_EXECUTABLE_ENV, str(tmp_path / "nowhere" / "kops"))
    with pytest.raises(SpecError, match="nowhere/kops"):
        cluster.check_kops_version.fn(spec)
    with pytest.raises(SpecError, match="was not found"):
        cluster.ensure_cluster.fn(spec, "s3://b")


def test_ensure_cluster_fails_on_other_get_errors(fake: Any, no_run_logger: None) -> None:
    spec = fake(
        'echo "Error: State Store: Required value: Please set the --state flag" >&2\nexit 1\n'
    )
    with pytest.raises(KopsCommandError, match="State Store"):
        cluster.ensure_cluster.fn(spec, "s3://b")


def test_validation_timeout_names_what_still_fails(fake: Any, no_run_logger: None) -> None:
    body = f"printf '%s' '{NOT_READY}'\necho 'Error: validation failed: cluster not yet healthy' >&2\nexit 1\n"
    spec = fake(body, timeouts=Timeouts(cluster_valid=1))
    with pytest.raises(WaitTimeout) as caught:
        cluster.wait_for_cluster_valid.fn(spec, "s3://b")
    assert caught.value.still_failing == (
        'Machine i-1: machine "i-1" has not yet joined cluster',
        'Node n1: node "n1" of role "node" is not ready',
    )
    assert "not ready after" in str(caught.value)


def test_validation_without_json_is_not_ready_not_an_error(
    fake: Any, tmp_path: Path, no_run_logger: None
) -> None:
    counter = tmp_path / "count"
    body = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n"
        f'if [ "$n" -lt 2 ]; then\n'
        "  echo 'Error: validation failed: unexpected error during validation: error listing nodes: "
        "dial tcp: i/o timeout' >&2; exit 1\nfi\n"
        f"printf '%s' '{HEALTHY}'\n"
    )
    report = cluster.wait_for_cluster_valid.fn(fake(body), "s3://b")
    assert report.ok
    assert counter.read_text().strip() == "3"


def test_validation_of_a_missing_cluster_fails_at_once(fake: Any, no_run_logger: None) -> None:
    spec = fake(
        "echo 'Error: validation failed: error reading cluster configuration: "
        'Cluster.kops.k8s.io "nlb-demo.k8s.local" not found\' >&2\nexit 1\n'
    )
    with pytest.raises(KopsCommandError, match="not found"):
        cluster.wait_for_cluster_valid.fn(spec, "s3://b")


def test_progress_artifact_follows_ready_nodes(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_logs: Any
) -> None:
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(progress.TaskRunContext, "get", classmethod(lambda cls: object()))

    def create(progress: float, key: str, description: str) -> uuid.UUID:
        calls.append((key, progress))
        return uuid.UUID(int=1)

    def update(artifact_id: uuid.UUID, progress: float) -> None:
        calls.append(("update", progress))

    monkeypatch.setattr(progress, "create_progress_artifact", create)
    monkeypatch.setattr(progress, "update_progress_artifact", update)
    counter = tmp_path / "count"
    body = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}\n"
        f"if [ \"$n\" -lt 1 ]; then printf '%s' '{NOT_READY}'; exit 1; fi\n"
        f"printf '%s' '{HEALTHY}'\n"
    )
    cluster.wait_for_cluster_valid.fn(fake(body), "s3://b")
    assert calls == [("cluster-validation", 0.0), ("update", 100.0)]


# A kops that writes the spec and then fails on the state store, as kops does under throttling.
HALF_CREATE = """case "$1 $2" in
  "get cluster")
    if [ -f spec-written ]; then echo '{}'; exit 0; fi
    echo "Error: cluster not found \\"$3\\"" >&2; exit 1;;
  "create cluster")
    touch spec-written
    echo 'I1205 00:00:00.000000 1 executor.go:113] Tasks: 0 done / 86 total; 46 can run' >&2
    echo 'Error: error reading cluster configuration "'$3'": operation error S3: GetObject, https response error StatusCode: 503, RequestID: r-1, HostID: h-1, api error SlowDown: Please reduce your request rate.' >&2
    exit 1;;
  "get instancegroups")
    echo '[{"kind":"InstanceGroup","spec":{"role":"Master","minSize":1}},'
    echo '{"kind":"InstanceGroup","spec":{"role":"Node","minSize":2}}]'; exit 0;;
  "update cluster") echo "$@" > applied; exit 0;;
esac
exit 3
"""


@mock_aws  # the retry looks for the cluster's VPC: there is none
def test_a_throttled_create_is_retried_and_the_retry_applies_the_written_spec(
    fake: Any, no_run_logger: None, tmp_path: Path
) -> None:
    spec = fake(HALF_CREATE)
    with pytest.raises(KopsCommandError) as first:
        cluster.ensure_cluster.fn(spec, "s3://b")
    assert is_transient(first.value)  # the task's retry condition says: try again
    assert "api error SlowDown" in str(first.value)

    again = cluster.ensure_cluster.fn(spec, "s3://b")  # what the retry runs

    assert again.changed is False and "kops update cluster --yes" in again.summary
    assert (tmp_path / "applied").read_text().split()[:3] == [
        "update",
        "cluster",
        spec.cluster_name,
    ]


def test_a_bad_flag_fails_at_once_with_kops_own_error_line(fake: Any, no_run_logger: None) -> None:
    usage = "".join(f"echo '  --flag-{i} string   some flag' >&2\n" for i in range(30))
    spec = fake(
        'case "$1 $2" in\n  "get cluster") echo "Error: cluster not found \\"$3\\"" >&2; exit 1;;\nesac\n'
        "echo 'Error: unknown flag: --no-such-flag' >&2\necho 'Usage:' >&2\n" + usage + "exit 1\n"
    )
    with pytest.raises(KopsCommandError) as failed:
        cluster.ensure_cluster.fn(spec, "s3://b")
    assert not is_transient(failed.value)
    assert "Error: unknown flag: --no-such-flag" in str(failed.value)
