"""The in-cluster probe task against a real kube-apiserver and controller manager (its Job
controller finishes the Jobs), with the twin's kubelets running each probe as the real curl."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prefect.logging import disable_run_logger

from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.verify.in_cluster import NON_TARGET, TARGET, InClusterAttempt
from kops_nlb.core.verify.in_cluster_job import RUN_LABEL, probe_job
from kops_nlb.core.verify.probe_script import ProbeTarget
from sandbox.kubelets.cluster_host import ClusterHost
from tasks import in_cluster
from tasks.in_cluster import probe_in_cluster
from tasks.workload import ensure_namespace
from tests.twin_kube import instance, pod_cidr_for, running_cluster, write_admin_kubeconfig

TOKEN = "0a1b2c3d4e5f"
WORKER, CONTROL_PLANE = instance(0), instance(1, control_plane=True)


class Listener:
    """A TCP listener on 127.0.0.1 that answers HTTP 200, or holds connections silently."""

    def __init__(self, *, answer: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self.answer, self.held = answer, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            if not self.answer:
                self.held.append(conn)
                continue
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHost]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as host:
        host.sync([WORKER, CONTROL_PLANE], pod_cidr_for)
        yield host


@pytest.fixture
def kubeconfig(cluster: ClusterHost, tmp_path: Path) -> str:
    return write_admin_kubeconfig(cluster, tmp_path / "kubeconfig")


@pytest.fixture
def spec(kubeconfig: str) -> EnvironmentSpec:
    made = EnvironmentSpec(
        namespace=f"t-{uuid.uuid4().hex[:8]}", poll=PollPolicy(initial=0.1, cap=0.5)
    )
    with disable_run_logger():
        ensure_namespace.fn(made, kubeconfig)
    return made


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with disable_run_logger():
        yield


def attempt(kind: str, node: dict[str, Any], port: int) -> InClusterAttempt:
    target = ProbeTarget(
        label=f"in-cluster:{kind}", host="nlb.test", port=port, resolve_ip="127.0.0.1"
    )
    return InClusterAttempt(
        kind=kind,
        node_name=node["PrivateDnsName"],
        node_ip=node["PrivateIpAddress"],
        target=target,
    )


def left_behind(cluster: ClusterHost, namespace: str) -> tuple[list[str], list[str]]:
    jobs = client.BatchV1Api(cluster.api).list_namespaced_job(namespace, label_selector=RUN_LABEL)
    pods = client.CoreV1Api(cluster.api).list_namespaced_pod(namespace, label_selector=RUN_LABEL)
    return [j.metadata.name for j in jobs.items], [p.metadata.name for p in pods.items]


def test_each_attempt_runs_from_its_node_and_the_jobs_are_deleted(
    cluster: ClusterHost, spec: EnvironmentSpec, kubeconfig: str
) -> None:
    silent, answering = Listener(answer=False), Listener(answer=True)
    attempts = [
        attempt(TARGET, WORKER, silent.port),
        attempt(NON_TARGET, CONTROL_PLANE, answering.port),
    ]
    runs = probe_in_cluster.fn(spec, kubeconfig, attempts=attempts, token=TOKEN)
    by_kind = {r.attempt.kind: r for r in runs}
    timed_out, answered = by_kind[TARGET], by_kind[NON_TARGET]
    assert timed_out.finished and timed_out.exit_code == 28
    assert timed_out.output.http_code == 0 and "timed out" in (timed_out.output.error or "")
    assert answered.finished and answered.exit_code == 0 and answered.output.http_code == 200
    # Each connection left from its node's own address (host network).
    assert silent.peers == [WORKER["PrivateIpAddress"]]
    assert answering.peers == [CONTROL_PLANE["PrivateIpAddress"]]
    assert left_behind(cluster, spec.namespace) == ([], [])


def test_a_job_already_there_is_followed_not_created_twice(
    cluster: ClusterHost, spec: EnvironmentSpec, kubeconfig: str
) -> None:
    answering = Listener(answer=True)
    one = attempt(NON_TARGET, CONTROL_PLANE, answering.port)
    manifest = probe_job(
        namespace=spec.namespace,
        token=TOKEN,
        kind=one.kind,
        node_name=one.node_name,
        target=one.target,
    )
    client.BatchV1Api(cluster.api).create_namespaced_job(spec.namespace, manifest)
    (run,) = probe_in_cluster.fn(spec, kubeconfig, attempts=[one], token=TOKEN)
    assert run.exit_code == 0 and run.output.http_code == 200
    assert answering.peers == [CONTROL_PLANE["PrivateIpAddress"]]  # one request, not two
    assert left_behind(cluster, spec.namespace) == ([], [])


def test_the_jobs_are_deleted_when_reading_them_fails(
    cluster: ClusterHost, spec: EnvironmentSpec, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering = Listener(answer=True)

    def broken(*_args: object) -> list[dict[str, Any]]:
        raise RuntimeError("the API went away")

    monkeypatch.setattr(in_cluster.kube_jobs, "list_pods", broken)
    with pytest.raises(RuntimeError, match="went away"):
        probe_in_cluster.fn(
            spec,
            kubeconfig,
            attempts=[attempt(NON_TARGET, CONTROL_PLANE, answering.port)],
            token=TOKEN,
        )
    assert left_behind(cluster, spec.namespace) == ([], [])
