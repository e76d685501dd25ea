"""nginx, the Service and pod logs against a real kube-apiserver, with the twin's kubelets
running each pod as a real nginx."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prefect.logging import disable_run_logger

from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.manifests import NLB_INTERNAL_ANNOTATION
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts
from sandbox.kubelets.cluster_host import ClusterHost
from tasks.probe import read_access_log
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
from tests.twin_kube import instance, pod_cidr_for, running_cluster, write_admin_kubeconfig

TOKEN = "0a1b2c3d4e5f"
WORKERS = [instance(0), instance(1, zone="ap-northeast-1c")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHost]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as host:
        yield host


@pytest.fixture
def kubeconfig(cluster: ClusterHost, tmp_path: Path) -> Iterator[str]:
    cluster.sync([], pod_cidr_for)  # no nodes until a test adds some
    yield write_admin_kubeconfig(cluster, tmp_path / "kubeconfig")
    cluster.sync([], pod_cidr_for)


@pytest.fixture
def spec(kubeconfig: str) -> EnvironmentSpec:
    fast = Timeouts(deployment_ready=30, service_hostname=2)
    namespace = f"t-{uuid.uuid4().hex[:8]}"  # a namespace of its own per test
    made = EnvironmentSpec(
        namespace=namespace, timeouts=fast, poll=PollPolicy(initial=0.05, cap=0.2)
    )
    with disable_run_logger():
        ensure_namespace.fn(made, kubeconfig)
    return made


def add_workers(cluster: ClusterHost) -> None:
    """Register the workers and wait until the scheduler may use both zones.

    A new Node carries the not-ready taint until the node lifecycle controller sees it Ready;
    the zone spread ignores a zone whose nodes are all tainted, so a pod scheduled before then
    goes to the other zone.
    """
    cluster.sync(WORKERS, pod_cidr_for)
    names = {worker["PrivateDnsName"] for worker in WORKERS}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        nodes = [n for n in core(cluster).list_node().items if n.metadata.name in names]
        if len(nodes) == len(names) and not any(n.spec.taints for n in nodes):
            return
        time.sleep(0.05)
    raise AssertionError(f"the workers {sorted(names)} were not schedulable within 30 s")


def core(cluster: ClusterHost) -> Any:
    return client.CoreV1Api(cluster.api)


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
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    add_workers(cluster)
    ensure_nginx.fn(spec, kubeconfig)
    pods = wait_for_nginx_ready.fn(spec, kubeconfig)
    assert len(pods) == 2 and all(p.ready and p.pod_ip for p in pods)
    assert len({p.node for p in pods}) == 2


def test_nginx_without_nodes_times_out_naming_the_replicas(
    spec: EnvironmentSpec, kubeconfig: str
) -> None:
    ensure_nginx.fn(spec, kubeconfig)
    short = spec.model_copy(update={"timeouts": Timeouts(deployment_ready=2)})
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
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    ensure_service.fn(spec, kubeconfig)
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": "a1.elb.example"}]}}}
    core(cluster).patch_namespaced_service_status(
        "nginx", spec.namespace, status, _content_type="application/merge-patch+json"
    )
    info = wait_for_service_hostname.fn(spec, kubeconfig)
    assert info.hostname == "a1.elb.example" and info.uid


def test_nodes_map_to_their_instances(kubeconfig: str, cluster: ClusterHost) -> None:
    add_workers(cluster)
    nodes = list_nodes.fn(kubeconfig)
    assert sorted((n.instance_id, n.internal_ip, n.ready) for n in nodes) == [
        (w["InstanceId"], w["PrivateIpAddress"], True) for w in WORKERS
    ]


def test_access_logs_are_read_since_the_probe_and_scanned_for_the_runs_token(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    add_workers(cluster)
    ensure_nginx.fn(spec, kubeconfig)
    pods = wait_for_nginx_ready.fn(spec, kubeconfig)
    started = datetime.now(UTC) - timedelta(seconds=30)
    for pod in pods:  # this run's request and another run's, from this host (loopback)
        for token in (TOKEN, "ffff00001111"):
            subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", f"http://{pod.pod_ip}/?probe={token}"],
                check=True,
            )
    node_ips = {n.name: n.internal_ip for n in list_nodes.fn(kubeconfig)}
    logs = [
        read_access_log.fn(
            spec, kubeconfig, pod=pod, node_ip=node_ips[str(pod.node)], started=started, token=TOKEN
        )
        for pod in pods
    ]
    # Through pods/log: the apiserver asks each node's kubelet endpoint for the nginx log. Only
    # the line with this run's token is parsed; another run's line (and the readiness probes')
    # are counted, not parsed.
    assert [len(log.records) for log in logs] == [1, 1]
    assert all(log.unparsed_lines >= 1 for log in logs)
    assert {log.records[0].path for log in logs} == {f"/?probe={TOKEN}"}
    assert {log.records[0].remote_addr for log in logs} == {"127.0.0.1"}
    # Each log is attributed to its pod's node (the scheduler may put both on one).
    assert {log.node_ip for log in logs} <= {w["PrivateIpAddress"] for w in WORKERS}
    assert all(log.node_ip for log in logs)


def test_deleting_the_workload_twice_is_fine(spec: EnvironmentSpec, kubeconfig: str) -> None:
    ensure_nginx.fn(spec, kubeconfig)
    ensure_service.fn(spec, kubeconfig)
    assert [r.changed for r in delete_workload.fn(spec, kubeconfig)] == [True, False, False, True]
    assert [r.changed for r in delete_workload.fn(spec, kubeconfig)] == [False] * 4
    wait_for_service_gone.fn(spec, kubeconfig)


def test_the_canary_service_selects_the_same_pods_under_cluster_and_is_deleted_too(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    with_canary = spec.model_copy(update={"negative_control": True})
    ensure_service.fn(with_canary, kubeconfig)
    created = ensure_canary_service.fn(with_canary, kubeconfig)
    assert (created.step, created.created) == ("canary-service", frozenset({"service"}))
    assert not ensure_canary_service.fn(with_canary, kubeconfig).changed
    main, canary = (
        core(cluster).read_namespaced_service(name, spec.namespace)
        for name in ("nginx", "nginx-canary")
    )
    assert canary.spec.external_traffic_policy == "Cluster"
    assert main.spec.external_traffic_policy == "Local"
    assert canary.spec.selector == main.spec.selector
    assert canary.metadata.annotations == main.metadata.annotations
    # Teardown removes the canary whatever the spec says about it now.
    assert [r.step for r in delete_workload.fn(spec, kubeconfig) if r.changed] == [
        "service",
        "canary-service",
    ]
    wait_for_service_gone.fn(spec, kubeconfig)


def test_service_gone_waits_for_the_finalizer(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    ensure_service.fn(spec, kubeconfig)
    finalizer = {"metadata": {"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}}
    merge = "application/merge-patch+json"
    core(cluster).patch_namespaced_service("nginx", spec.namespace, finalizer, _content_type=merge)
    delete_workload.fn(spec, kubeconfig)
    with pytest.raises(WaitTimeout, match="finalizers"):
        wait_for_service_gone.fn(spec, kubeconfig)
    no_finalizers = {"metadata": {"finalizers": None}}
    core(cluster).patch_namespaced_service(
        "nginx", spec.namespace, no_finalizers, _content_type=merge
    )
    wait_for_service_gone.fn(spec, kubeconfig)


def test_namespace_is_created_once(spec: EnvironmentSpec, kubeconfig: str) -> None:
    other = spec.model_copy(update={"namespace": f"{spec.namespace}-web"})
    assert ensure_namespace.fn(other, kubeconfig).changed
    assert not ensure_namespace.fn(other, kubeconfig).changed


def test_proxy_protocol_gives_nginx_its_site_before_the_deployment_and_teardown_removes_it(
    spec: EnvironmentSpec, kubeconfig: str, cluster: ClusterHost
) -> None:
    proxied = spec.model_copy(
        update={"proxy_protocol_v2": True, "external_traffic_policy": "Cluster"}
    )
    assert ensure_nginx.fn(proxied, kubeconfig).changed
    site = core(cluster).read_namespaced_config_map("nginx-proxy-protocol", spec.namespace)
    assert "listen 80 proxy_protocol;" in site.data["default.conf"]
    apps = client.AppsV1Api(cluster.api)
    pod = apps.read_namespaced_deployment("nginx", spec.namespace).spec.template.spec
    assert pod.volumes[0].config_map.name == "nginx-proxy-protocol"
    assert not ensure_nginx.fn(proxied, kubeconfig).changed
    # Back to plain nginx: the Deployment drops the mount.
    assert ensure_nginx.fn(spec, kubeconfig).changed
    deleted = [r.step for r in delete_workload.fn(spec, kubeconfig) if r.changed]
    assert deleted == ["nginx-config", "nginx"]
    names = core(cluster).list_namespaced_config_map(spec.namespace).items
    assert "nginx-proxy-protocol" not in {m.metadata.name for m in names}
