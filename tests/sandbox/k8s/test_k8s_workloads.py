"""The deployment controller, scheduler and kubelet, and pods/log, through the official client."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from k8s_support import TOKEN, RecordingRuntime
from kubernetes import client

from sandbox.k8s import KubeApiServer

Wait = Callable[..., Any]


def _pods(core: client.CoreV1Api, selector: str = "app=nginx") -> list[client.V1Pod]:
    return core.list_namespaced_pod("default", label_selector=selector).items


def _live(core: client.CoreV1Api) -> list[client.V1Pod]:
    return [pod for pod in _pods(core) if pod.metadata.deletion_timestamp is None]


def _ready_replicas(apps: client.AppsV1Api, name: str = "nginx") -> int:
    return apps.read_namespaced_deployment_status(name, "default").status.ready_replicas or 0


def _cluster(add_node: Callable[..., dict[str, Any]]) -> None:
    add_node("control-plane-1", "10.0.0.10", control_plane=True)
    add_node("worker-a", "10.0.1.11")
    add_node("worker-b", "10.0.1.12")


def test_deployment_lifecycle(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    server: KubeApiServer,
    runtime: RecordingRuntime,
    add_node: Callable[..., dict[str, Any]],
    deployment: Callable[..., dict[str, Any]],
    wait: Wait,
) -> None:
    created = apps.create_namespaced_deployment("default", deployment(replicas=2))

    # No nodes: the pods exist but stay Pending and unscheduled.
    pending = wait(lambda: len(_pods(core)) == 2 and _pods(core))
    for pod in pending:
        assert pod.metadata.name.startswith("nginx-")
        _, template_hash, suffix = pod.metadata.name.rsplit("-", 2)
        assert len(template_hash) == 10 and int(template_hash, 16) >= 0
        assert len(suffix) == 5 and suffix.isalnum()
        assert pod.metadata.labels == {
            "app": "nginx",
            "tier": "web",
            "pod-template-hash": template_hash,
        }
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "Deployment", "nginx", created.metadata.uid, True,
        )  # fmt: skip
        assert pod.spec.containers[0].image == "nginx:1.27"
        assert pod.status.phase == "Pending" and pod.spec.node_name is None
    wait(lambda: all(
        c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
        for pod in _pods(core) for c in pod.status.conditions or [None]  # type: ignore[union-attr]
    ))  # fmt: skip
    assert runtime.started == []
    assert apps.read_namespaced_deployment("nginx", "default").status.ready_replicas is None

    # Two ready workers and a control-plane node: one pod on each worker.
    _cluster(add_node)
    wait(lambda: _ready_replicas(apps) == 2)
    pods = _pods(core)
    assert sorted(pod.spec.node_name for pod in pods) == ["worker-a", "worker-b"]
    for pod in pods:
        assert pod.status.phase == "Running"
        assert (
            pod.status.host_ip
            == {"worker-a": "10.0.1.11", "worker-b": "10.0.1.12"}[pod.spec.node_name]
        )
        assert pod.status.pod_ip.startswith("100.96.")
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        started = runtime.pods[pod.metadata.name]
        assert started["status"]["podIP"] == pod.status.pod_ip
        assert started["status"]["hostIP"] == pod.status.host_ip
    assert len({pod.status.pod_ip for pod in pods}) == 2
    status = apps.read_namespaced_deployment("nginx", "default").status
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (2, 2, 2)
    assert status.observed_generation == 1
    assert {c.type: c.status for c in status.conditions} == {
        "Available": "True",
        "Progressing": "True",
    }

    # Scale out: the third pod goes to either worker, the spread stays even-ish.
    apps.patch_namespaced_deployment("nginx", "default", {"spec": {"replicas": 3}})
    wait(lambda: _ready_replicas(apps) == 3)
    spread = Counter(pod.spec.node_name for pod in _live(core))
    assert sorted(spread.values()) == [1, 2] and set(spread) == {"worker-a", "worker-b"}

    # Scale in: the surplus is deleted and its runtime stopped.
    apps.patch_namespaced_deployment_scale("nginx", "default", {"spec": {"replicas": 1}})
    wait(lambda: len(_pods(core)) == 1 and _ready_replicas(apps) == 1)
    survivor = _pods(core)[0].metadata.name
    assert sorted(runtime.stopped) == sorted(set(runtime.started) - {survivor})

    # A changed template replaces the pods.
    old_hash = _pods(core)[0].metadata.labels["pod-template-hash"]
    apps.patch_namespaced_deployment(
        "nginx", "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}}}},
    )  # fmt: skip
    wait(
        lambda: [p.metadata.labels["pod-template-hash"] != old_hash for p in _pods(core)] == [True]
    )
    wait(lambda: _ready_replicas(apps) == 1)
    replaced = apps.read_namespaced_deployment("nginx", "default")
    assert replaced.metadata.generation == replaced.status.observed_generation == 4
    assert replaced.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert _pods(core)[0].spec.containers[0].image == "nginx:1.28"
    assert survivor in runtime.stopped

    # Deleting the deployment takes its pods along.
    apps.delete_namespaced_deployment("nginx", "default")
    wait(lambda: _pods(core) == [])
    assert sorted(runtime.stopped) == sorted(set(runtime.started))
    assert server.running_pods() == []


def test_only_ready_schedulable_workers_get_pods(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    server: KubeApiServer,
    add_node: Callable[..., dict[str, Any]],
    deployment: Callable[..., dict[str, Any]],
    wait: Wait,
) -> None:
    _cluster(add_node)
    add_node("worker-c", "10.0.1.13", ready=False)
    add_node("worker-d", "10.0.1.14")
    server.patch("v1/nodes", "worker-d", {"spec": {"unschedulable": True}})
    server.patch(
        "v1/nodes", "worker-b",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, subresource="status",
    )  # fmt: skip
    apps.create_namespaced_deployment("default", deployment(replicas=3))
    wait(lambda: _ready_replicas(apps) == 3)
    assert {pod.spec.node_name for pod in _pods(core)} == {"worker-a"}

    # worker-c turns Ready: new pods spread onto it.
    server.patch(
        "v1/nodes", "worker-c",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, subresource="status",
    )  # fmt: skip
    apps.patch_namespaced_deployment("nginx", "default", {"spec": {"replicas": 5}})
    wait(lambda: _ready_replicas(apps) == 5)
    assert Counter(pod.spec.node_name for pod in _pods(core)) == {"worker-a": 3, "worker-c": 2}


def test_runtime_start_is_retried_until_ready(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    runtime: RecordingRuntime,
    add_node: Callable[..., dict[str, Any]],
    deployment: Callable[..., dict[str, Any]],
    wait: Wait,
) -> None:
    runtime.ready = False
    _cluster(add_node)
    apps.create_namespaced_deployment("default", deployment(replicas=1))
    wait(lambda: len(runtime.started) >= 3)  # retried on later passes
    pod = _pods(core)[0]
    assert pod.status.phase == "Pending"
    assert pod.status.pod_ip and pod.spec.node_name
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    assert apps.read_namespaced_deployment("nginx", "default").status.ready_replicas is None
    runtime.ready = True
    wait(lambda: _ready_replicas(apps) == 1)
    assert _pods(core)[0].status.phase == "Running"


def test_deleting_a_pod_stops_it_and_the_deployment_replaces_it(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    runtime: RecordingRuntime,
    add_node: Callable[..., dict[str, Any]],
    deployment: Callable[..., dict[str, Any]],
    wait: Wait,
) -> None:
    _cluster(add_node)
    apps.create_namespaced_deployment("default", deployment(replicas=1))
    wait(lambda: _ready_replicas(apps) == 1)
    victim = _pods(core)[0].metadata.name
    deleted = core.delete_namespaced_pod(victim, "default")
    assert deleted.metadata.deletion_timestamp is not None  # graceful: the kubelet finishes it
    wait(lambda: victim in runtime.stopped)
    wait(
        lambda: [p.metadata.name != victim for p in _pods(core)] == [True] and _ready_replicas(apps)
    )
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod(victim, "default")
    assert caught.value.status == 404


def test_pod_logs(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    server: KubeApiServer,
    runtime: RecordingRuntime,
    add_node: Callable[..., dict[str, Any]],
    deployment: Callable[..., dict[str, Any]],
    wait: Wait,
) -> None:
    now = datetime.now(UTC)
    runtime.lines = [
        (now - timedelta(minutes=10), '10.0.9.1 - - "GET / HTTP/1.1" 200'),
        (now - timedelta(seconds=20), '10.0.9.2 - - "GET / HTTP/1.1" 200'),
        (now - timedelta(seconds=10), '10.0.9.3 - - "GET / HTTP/1.1" 200'),
        (now - timedelta(seconds=5), '10.0.9.4 - - "GET / HTTP/1.1" 200'),
    ]
    _cluster(add_node)
    apps.create_namespaced_deployment("default", deployment(replicas=1))
    wait(lambda: _ready_replicas(apps) == 1)
    name = _pods(core)[0].metadata.name

    text = core.read_namespaced_pod_log(
        name, "default", since_seconds=60, tail_lines=2, _preload_content=True
    )
    assert isinstance(text, str)
    assert text.splitlines() == [
        '10.0.9.3 - - "GET / HTTP/1.1" 200',
        '10.0.9.4 - - "GET / HTTP/1.1" 200',
    ]
    call = runtime.log_calls[-1]
    assert (call["namespace"], call["name"], call["tail_lines"], call["timestamps"]) == (
        "default", name, 2, False,
    )  # fmt: skip
    assert abs((call["since"] - (now - timedelta(seconds=60))).total_seconds()) < 5

    stamped = core.read_namespaced_pod_log(name, "default", timestamps=True, container="nginx")
    assert len(stamped.splitlines()) == 4 and runtime.log_calls[-1]["timestamps"] is True
    assert runtime.log_calls[-1]["since"] is None and runtime.log_calls[-1]["tail_lines"] is None

    since = (now - timedelta(seconds=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = urllib.request.Request(
        f"{server.url}/api/v1/namespaces/default/pods/{name}/log?sinceTime={since}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert len(response.read().decode().splitlines()) == 2
    assert runtime.log_calls[-1]["since"] == datetime.fromisoformat(since)

    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod_log("missing", "default")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'pods "missing" not found'
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod_log(name, "default", container="sidecar")
    assert caught.value.status == 400


def test_logs_of_a_pod_that_is_not_running(
    core: client.CoreV1Api, server: KubeApiServer, runtime: RecordingRuntime
) -> None:
    server.create(
        "v1/pods",
        {
            "metadata": {"name": "lonely"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod_log("lonely", "default")
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == "pod lonely does not have a host assigned"
    assert runtime.log_calls == []
