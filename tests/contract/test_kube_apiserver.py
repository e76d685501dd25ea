"""The product's Kubernetes side against a real kube-apiserver v1.36.3 (`make upstream`): its
manifests pass server-side validation and come back defaulted as the product expects, its error
handling meets the apiserver's real Status bodies, and its waits outlast an apiserver restart and
watches that expire (410 Gone)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from prefect.logging import disable_run_logger

from kops_nlb.core.errors import is_transient
from kops_nlb.core.manifests import nginx_deployment, nlb_service, service_patch
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts
from kops_nlb.kube import waits as kube_waits
from kops_nlb.kube import watching
from kops_nlb.kube import workload as kube
from kops_nlb.kube.client import kube_api
from kops_nlb.kube.watching import WatchStats
from sandbox.kubelets.cluster_host import ClusterHost
from tasks.workload import ensure_namespace, ensure_nginx, wait_for_nginx_ready
from tests.twin_kube import instance, pod_cidr_for, running_cluster, write_admin_kubeconfig

pytestmark = pytest.mark.kube

NODE_PORTS = range(30000, 32768)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHost]:
    with running_cluster(tmp_path_factory.mktemp("apiserver")) as host:
        yield host


@pytest.fixture
def kubeconfig(cluster: ClusterHost, tmp_path: Path) -> str:
    return write_admin_kubeconfig(cluster, tmp_path / "kubeconfig")


@pytest.fixture
def spec(kubeconfig: str) -> EnvironmentSpec:
    made = EnvironmentSpec(
        namespace=f"c-{uuid.uuid4().hex[:8]}",
        timeouts=Timeouts(deployment_ready=60),
        poll=PollPolicy(initial=0.1, cap=0.5),
    )
    with disable_run_logger():
        ensure_namespace.fn(made, kubeconfig)
    return made


def created_service(api: Any, spec: EnvironmentSpec, name: str) -> Any:
    manifest = nlb_service(spec)
    manifest["metadata"]["name"] = name
    return client.CoreV1Api(api).create_namespaced_service(spec.namespace, manifest)


def test_the_service_is_valid_and_gets_node_ports(spec: EnvironmentSpec, kubeconfig: str) -> None:
    api = kube_api(kubeconfig)
    local = created_service(api, spec, "local")
    assert local.spec.type == "LoadBalancer"
    assert local.spec.external_traffic_policy == "Local"
    assert [p.node_port in NODE_PORTS for p in local.spec.ports] == [True]
    assert local.spec.health_check_node_port in NODE_PORTS  # what the NLB's health check probes
    cluster_wide = spec.model_copy(update={"external_traffic_policy": "Cluster"})
    shared = created_service(api, cluster_wide, "cluster-wide")
    assert shared.spec.health_check_node_port is None
    assert [p.node_port in NODE_PORTS for p in shared.spec.ports] == [True]


def test_the_deployment_is_valid_and_defaulted(spec: EnvironmentSpec, kubeconfig: str) -> None:
    api = kube_api(kubeconfig)
    created = client.AppsV1Api(api).create_namespaced_deployment(
        spec.namespace, nginx_deployment(spec), dry_run="All"
    )
    assert created.spec.replicas == spec.nginx_replicas
    assert created.spec.strategy.type == "RollingUpdate"
    [container] = created.spec.template.spec.containers
    assert (container.image, container.ports[0].container_port) == (
        spec.nginx_image,
        spec.container_port,
    )
    assert container.ports[0].protocol == "TCP"


def test_drift_is_patched_back_through_the_real_apiserver(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    api = kube_api(kubeconfig)
    kube.create_service(api, spec.namespace, nlb_service(spec))
    drifted = spec.model_copy(update={"external_traffic_policy": "Cluster"})
    existing = kube.read_service(api, spec.namespace, spec.service_name)
    assert existing is not None
    patch = service_patch(existing, drifted)
    assert patch is not None
    kube.patch_service(api, spec.namespace, spec.service_name, patch)
    info = kube.service_info(api, spec.namespace, spec.service_name)
    assert (info.external_traffic_policy, info.health_check_node_port) == ("Cluster", None)


def test_real_error_bodies(spec: EnvironmentSpec, kubeconfig: str) -> None:
    api = kube_api(kubeconfig)
    assert kube.read_service(api, spec.namespace, "missing") is None  # 404 reads as "absent"
    assert kube.delete_service(api, spec.namespace, "missing") is False
    kube.create_service(api, spec.namespace, nlb_service(spec))
    with pytest.raises(ApiException) as conflict:
        kube.create_service(api, spec.namespace, nlb_service(spec))
    assert (conflict.value.status, json.loads(conflict.value.body)["reason"]) == (
        409,
        "AlreadyExists",
    )
    assert not is_transient(conflict.value)
    invalid = nlb_service(spec)
    invalid["spec"]["ports"][0]["port"] = 70000
    invalid["metadata"]["name"] = "invalid"
    with pytest.raises(ApiException) as rejected:
        kube.create_service(api, spec.namespace, invalid)
    body = json.loads(rejected.value.body)
    assert (rejected.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.ports[0].port"
    assert not is_transient(rejected.value)


def test_the_rollout_wait_outlasts_an_apiserver_restart(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    stop = threading.Event()

    def kubelets() -> None:  # as the twin does: the kubelets tick twice a second
        while not stop.wait(0.5):
            with contextlib.suppress(Exception):  # the apiserver is away while it restarts
                cluster.sync([instance(0), instance(1, zone="ap-northeast-1c")], pod_cidr_for)

    ticking = threading.Thread(target=kubelets)
    ticking.start()
    try:
        with disable_run_logger():
            ensure_nginx.fn(spec, kubeconfig)
            restarted = threading.Thread(target=cluster.control_plane.restart_apiserver)
            restarted.start()
            pods = wait_for_nginx_ready.fn(spec, kubeconfig)
            restarted.join()
    finally:
        stop.set()
        ticking.join()
    assert len(pods) == spec.nginx_replicas and all(p.ready and p.pod_ip for p in pods)


def compact_etcd(port: int, after: int = 0) -> int:
    """Compact etcd's history up to now (what the apiserver does every few minutes) unless it has
    not moved past ``after``; return the revision."""

    def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    everything = {"key": base64.b64encode(b"/").decode(), "range_end": "AA==", "limit": 1}
    revision = int(call("/v3/kv/range", everything)["header"]["revision"])
    if revision > after:
        call("/v3/kv/compaction", {"revision": revision})
    return revision


def stale_watch_status(core: Any, version: str) -> int:
    """The code a watch from ``version`` ends with: HTTP status, or its first ERROR event's."""
    try:
        response = core.list_namespace(
            watch=True, resource_version=version, timeout_seconds=5, _preload_content=False
        )
    except ApiException as exc:
        return int(exc.status)
    try:
        first = json.loads(next(iter_resp_lines(response)))
    finally:
        response.release_conn()
    return int(first["object"]["code"]) if first["type"] == "ERROR" else 200


def test_every_rollout_leaves_one_nginx_pod_in_each_zone(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    """The real scheduler honours the Deployment's spread: each zone's NLB address keeps a
    ready pod behind it after every rolling update (soft spreading counted the old revision's
    pods too and now and then put both new ones in one zone)."""
    stop = threading.Event()

    def kubelets() -> None:
        while not stop.wait(0.5):
            with contextlib.suppress(Exception):  # a slow answer: the next tick retries
                cluster.sync([instance(0), instance(1, zone="ap-northeast-1c")], pod_cidr_for)

    api = kube_api(kubeconfig)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    ticking = threading.Thread(target=kubelets)
    ticking.start()
    zones_per_rollout = []
    try:
        with disable_run_logger():
            ensure_nginx.fn(spec, kubeconfig)
            for rollout in range(4):
                if rollout:  # what `kubectl rollout restart` does
                    restarted = {"kops-nlb-flows.test/rollout": str(rollout)}
                    apps.patch_namespaced_deployment(
                        spec.deployment_name,
                        spec.namespace,
                        {"spec": {"template": {"metadata": {"annotations": restarted}}}},
                    )
                pods = [p for p in wait_for_nginx_ready.fn(spec, kubeconfig) if p.ready]
                zone_of = {
                    n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"]
                    for n in core.list_node().items
                }
                zones_per_rollout.append(sorted(zone_of[str(p.node)] for p in pods))
    finally:
        stop.set()
        ticking.join()
    assert zones_per_rollout == [["ap-northeast-1a", "ap-northeast-1c"]] * 4


def test_pods_marked_not_ready_by_the_node_controller_are_reported_ready_again(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    """When a node's heartbeats lapse (a loaded machine), the node lifecycle controller sets its
    pods' Ready condition to False. Once the kubelet answers again its status manager reports
    them Ready: the rollout wait must not hang on a status nobody corrects."""
    stop = threading.Event()

    def kubelets() -> None:
        while not stop.wait(0.5):
            with contextlib.suppress(Exception):  # a slow answer: the next tick retries
                cluster.sync([instance(0), instance(1, zone="ap-northeast-1c")], pod_cidr_for)

    core = client.CoreV1Api(kube_api(kubeconfig))
    ticking = threading.Thread(target=kubelets)
    ticking.start()
    try:
        with disable_run_logger():
            ensure_nginx.fn(spec, kubeconfig)
            ready = wait_for_nginx_ready.fn(spec, kubeconfig)
            for pod in ready:
                marked = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
                core.patch_namespaced_pod_status(pod.name, spec.namespace, marked)
            again = wait_for_nginx_ready.fn(spec, kubeconfig)
    finally:
        stop.set()
        ticking.join()
    assert sorted(p.name for p in again) == sorted(p.name for p in ready)  # the same pods
    assert all(p.ready for p in again)


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHost]:
    """An apiserver that ends every watch after a few seconds and watches etcd directly, so a
    watch from a resourceVersion that etcd compacted away answers 410 Gone."""
    flags = ("--watch-cache=false", "--min-request-timeout=2")
    home = tmp_path_factory.mktemp("expiring")
    with running_cluster(home, "expiring.k8s.local", apiserver_flags=flags) as host:
        yield host


def test_the_rollout_wait_outlasts_watches_that_expire(
    expiring: ClusterHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = write_admin_kubeconfig(expiring, tmp_path / "kubeconfig")
    spec = EnvironmentSpec(namespace="expiring")
    api = kube_api(kubeconfig)
    core: Any = client.CoreV1Api(api)
    stale = core.list_namespace().metadata.resource_version
    core.create_namespace({"metadata": {"name": spec.namespace}})  # history moves on...
    core.create_namespace({"metadata": {"name": f"{spec.namespace}-2"}})
    port = expiring.control_plane.etcd_port
    compacted = compact_etcd(port)  # ...and is compacted away
    assert stale_watch_status(core, stale) == 410  # the condition is real: 410 Gone
    # Each watch request now ends after 3 s and is resumed from the last version it saw, which
    # the compactions below keep removing; a few of them, so the controller manager (whose
    # informers relist too) can still roll the Deployment out on a loaded machine.
    monkeypatch.setattr(watching, "MAX_WATCH_S", 3)
    stop = threading.Event()

    def compact_a_few_times() -> None:
        last = compacted
        for _ in range(4):
            if stop.wait(4):
                return
            last = compact_etcd(port, after=last)

    # Other addresses than the module's first cluster's, whose pods still hold theirs.
    nodes = [instance(2), instance(3, zone="ap-northeast-1c")]

    def nodes_later() -> None:  # the instances boot after a while; kubelets tick twice a second
        if not stop.wait(10):
            while not stop.wait(0.5):
                with contextlib.suppress(Exception):  # a slow answer: the next tick retries
                    expiring.sync(nodes, pod_cidr_for)

    workers = [threading.Thread(target=compact_a_few_times), threading.Thread(target=nodes_later)]
    stats = WatchStats()
    with disable_run_logger():
        ensure_nginx.fn(spec, kubeconfig)
        for worker in workers:
            worker.start()
        try:
            ready = kube_waits.wait_rollout(
                api, spec.namespace, spec.deployment_name, timeout=240, stats=stats
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    assert ready == spec.nginx_replicas
    assert stats.watches >= 3 and stats.gone >= 1, stats  # it resumed, and relisted after 410
