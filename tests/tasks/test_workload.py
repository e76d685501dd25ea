"""nginx, the Service and pod logs against the emulated Kubernetes API, over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.logging import disable_run_logger

from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.manifests import NLB_INTERNAL_ANNOTATION
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts
from sandbox.k8s import KubeApiServer, NullPodRuntime
from tasks.probe import collect_access_logs
from tasks.workload import (
    delete_workload,
    describe_service,
    ensure_canary_service,
    ensure_namespace,
    ensure_nginx,
    ensure_service,
    list_nodes,
    wait_for_nginx_ready,
    wait_for_service_gone,
    wait_for_service_hostname,
)

LINE = '{ip} - - [25/Nov/2026:18:21:37 +0000] "GET /?probe=t HTTP/1.1" 200 615 "-" "curl/8" "-"'


class CannedLogs(NullPodRuntime):
    """Pods ready at once, each serving one access-log line; records the `since` it was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: list[datetime | None] = []

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str:
        with self.lock:
            self.since.append(since)
        return "nginx: notice: start\n" + LINE.format(ip="127.20.0.9") + "\n"


@pytest.fixture(scope="module")
def runtime() -> CannedLogs:
    return CannedLogs()


@pytest.fixture(scope="module")
def kube(runtime: CannedLogs) -> Iterator[KubeApiServer]:
    server = KubeApiServer(pod_runtime=runtime)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(kube: KubeApiServer, tmp_path: Path) -> str:
    kube.reset()
    path = tmp_path / "kubeconfig"
    kube.write_kubeconfig(path, cluster_name="t.k8s.local", user="admin", token="t0ken")
    return str(path)


@pytest.fixture
def spec() -> EnvironmentSpec:
    fast = Timeouts(deployment_ready=10, service_hostname=2)
    return EnvironmentSpec(timeouts=fast, poll=PollPolicy(initial=0.05, cap=0.2))


def add_workers(kube: KubeApiServer, count: int = 2) -> None:
    for index in range(count):
        name = f"ip-127-20-0-{10 + index}"
        kube.create(
            "v1/nodes",
            {
                "metadata": {
                    "name": name,
                    "labels": {"topology.kubernetes.io/zone": "ap-northeast-1a"},
                },
                "spec": {"providerID": f"aws:///ap-northeast-1a/i-0{index}"},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": f"127.20.0.{10 + index}"}],
                },
            },
        )


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with disable_run_logger():
        yield


def test_nginx_is_created_then_left_alone_then_scaled(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    assert ensure_nginx.fn(spec, kubeconfig).changed
    assert not ensure_nginx.fn(spec, kubeconfig).changed
    scaled = spec.model_copy(update={"nginx_replicas": 3})
    result = ensure_nginx.fn(scaled, kubeconfig)
    assert result.changed and "replicas" in result.summary


def test_nginx_becomes_ready_spread_over_the_workers(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer
) -> None:
    add_workers(kube)
    ensure_nginx.fn(spec, kubeconfig)
    pods = wait_for_nginx_ready.fn(spec, kubeconfig)
    assert len(pods) == 2 and all(p.ready and p.pod_ip for p in pods)
    assert len({p.node for p in pods}) == 2


def test_nginx_without_nodes_times_out_naming_the_replicas(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    ensure_nginx.fn(spec, kubeconfig)
    short = spec.model_copy(update={"timeouts": Timeouts(deployment_ready=1)})
    with pytest.raises(WaitTimeout, match="0/2 replicas ready"):
        wait_for_nginx_ready.fn(short, kubeconfig)


def test_service_is_created_and_drift_is_patched_back(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    assert ensure_service.fn(spec, kubeconfig).changed
    assert not ensure_service.fn(spec, kubeconfig).changed
    drifted = spec.model_copy(update={"external_traffic_policy": "Cluster"})
    assert ensure_service.fn(drifted, kubeconfig).changed
    info = describe_service.fn(spec, kubeconfig)
    assert info.external_traffic_policy == "Cluster"
    assert info.health_check_node_port is None
    patched = ensure_service.fn(spec, kubeconfig)
    assert "externalTrafficPolicy" in patched.summary
    info = describe_service.fn(spec, kubeconfig)
    assert info.external_traffic_policy == "Local"
    assert info.health_check_node_port is not None
    assert info.annotations[NLB_INTERNAL_ANNOTATION] == "true"


def test_service_hostname_wait_times_out_without_a_cloud_controller(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    ensure_service.fn(spec, kubeconfig)
    with pytest.raises(WaitTimeout, match=r"no status\.loadBalancer\.ingress hostname"):
        wait_for_service_hostname.fn(spec, kubeconfig)


def test_service_hostname_is_returned_once_set(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer
) -> None:
    ensure_service.fn(spec, kubeconfig)
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": "a1.elb.example"}]}}}
    kube.patch("v1/services", "nginx", status, "default", subresource="status")
    info = wait_for_service_hostname.fn(spec, kubeconfig)
    assert info.hostname == "a1.elb.example" and info.uid


def test_nodes_map_to_their_instances(kubeconfig: str, kube: KubeApiServer) -> None:
    add_workers(kube)
    nodes = list_nodes.fn(kubeconfig)
    assert [(n.instance_id, n.internal_ip, n.ready) for n in nodes] == [
        ("i-00", "127.20.0.10", True),
        ("i-01", "127.20.0.11", True),
    ]


def test_access_logs_are_read_since_the_probe_and_parsed(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer, runtime: CannedLogs
) -> None:
    add_workers(kube)
    ensure_nginx.fn(spec, kubeconfig)
    pods = wait_for_nginx_ready.fn(spec, kubeconfig)
    started = datetime.now(UTC) - timedelta(seconds=30)
    logs = collect_access_logs.fn(
        spec, kubeconfig, pods=pods, nodes=list_nodes.fn(kubeconfig), started=started
    )
    assert [len(log.records) for log in logs] == [1, 1]  # the notice line is not an access line
    assert {log.records[0].remote_addr for log in logs} == {"127.20.0.9"}
    assert all(log.node_ip and log.node_ip.startswith("127.20.0.") for log in logs)
    asked = [s for s in runtime.since[-2:] if s is not None]
    assert asked and all(s <= started for s in asked)  # read a little further back


def test_deleting_the_workload_twice_is_fine(spec: EnvironmentSpec, kubeconfig: str) -> None:
    ensure_nginx.fn(spec, kubeconfig)
    ensure_service.fn(spec, kubeconfig)
    assert [r.changed for r in delete_workload.fn(spec, kubeconfig)] == [True, False, False, True]
    assert [r.changed for r in delete_workload.fn(spec, kubeconfig)] == [False] * 4
    wait_for_service_gone.fn(spec, kubeconfig)


def test_the_canary_service_selects_the_same_pods_under_cluster_and_is_deleted_too(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer
) -> None:
    with_canary = spec.model_copy(update={"negative_control": True})
    ensure_service.fn(with_canary, kubeconfig)
    created = ensure_canary_service.fn(with_canary, kubeconfig)
    assert (created.step, created.created) == ("canary-service", frozenset({"service"}))
    assert not ensure_canary_service.fn(with_canary, kubeconfig).changed
    main, canary = (kube.get("v1/services", name, "default") for name in ("nginx", "nginx-canary"))
    assert canary["spec"]["externalTrafficPolicy"] == "Cluster"
    assert main["spec"]["externalTrafficPolicy"] == "Local"
    assert canary["spec"]["selector"] == main["spec"]["selector"]
    assert canary["metadata"]["annotations"] == main["metadata"]["annotations"]
    # Teardown removes the canary whatever the spec says about it now.
    assert [r.step for r in delete_workload.fn(spec, kubeconfig) if r.changed] == [
        "service",
        "canary-service",
    ]
    wait_for_service_gone.fn(spec, kubeconfig)


def test_service_gone_waits_for_the_finalizer(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer
) -> None:
    ensure_service.fn(spec, kubeconfig)
    finalizer = {"metadata": {"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}}
    kube.patch("v1/services", "nginx", finalizer, "default")
    delete_workload.fn(spec, kubeconfig)
    with pytest.raises(WaitTimeout, match="finalizers"):
        wait_for_service_gone.fn(spec, kubeconfig)
    kube.patch("v1/services", "nginx", {"metadata": {"finalizers": []}}, "default")
    wait_for_service_gone.fn(spec, kubeconfig)


def test_namespace_is_created_once(spec: EnvironmentSpec, kubeconfig: str) -> None:
    other = spec.model_copy(update={"namespace": "web"})
    assert ensure_namespace.fn(other, kubeconfig).changed
    assert not ensure_namespace.fn(other, kubeconfig).changed


def test_proxy_protocol_gives_nginx_its_site_before_the_deployment_and_teardown_removes_it(
    spec: EnvironmentSpec, kubeconfig: str, kube: KubeApiServer
) -> None:
    proxied = spec.model_copy(
        update={"proxy_protocol_v2": True, "external_traffic_policy": "Cluster"}
    )
    assert ensure_nginx.fn(proxied, kubeconfig).changed
    site = kube.get("v1/configmaps", "nginx-proxy-protocol", "default")
    assert site is not None and "listen 80 proxy_protocol;" in site["data"]["default.conf"]
    deployment = kube.get("apps/v1/deployments", "nginx", "default")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == "nginx-proxy-protocol"
    assert not ensure_nginx.fn(proxied, kubeconfig).changed
    # Back to plain nginx: the Deployment drops the mount.
    assert ensure_nginx.fn(spec, kubeconfig).changed
    deleted = [r.step for r in delete_workload.fn(spec, kubeconfig) if r.changed]
    assert deleted == ["nginx-config", "nginx"]
    assert kube.get("v1/configmaps", "nginx-proxy-protocol", "default") is None
