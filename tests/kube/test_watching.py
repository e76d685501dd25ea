"""Waits by watch against the twin's Kubernetes API, over HTTP: one list, one watch, 410 relists."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.waiting import Observation
from kops_nlb.kube.client import core_v1, kube_api
from kops_nlb.kube.waits import nodes_observation, wait_nodes_ready, wait_service_hostname
from kops_nlb.kube.watching import ObjectWatch, WatchStats
from kops_nlb.kube.workload import node_info
from sandbox.k8s import KubeApiServer


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApiServer]:
    server = KubeApiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(kube: KubeApiServer, tmp_path: Path) -> Any:
    kube.reset()
    path = tmp_path / "kubeconfig"
    kube.write_kubeconfig(path, cluster_name="w.k8s.local", user="admin", token="t0ken")
    return kube_api(str(path))


def node(name: str, *, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"providerID": f"aws:///ap-northeast-1a/i-{name}"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def mark_ready(kube: KubeApiServer, name: str) -> None:
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    kube.patch("v1/nodes", name, ready, subresource="status")


def later(action: Callable[[], None], delay: float = 0.3) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def after_the_list(action: Callable[[], None], seen: list[Observation[Any]]) -> Any:
    """An on_observation that records, and starts `action` once the first look (the list) is in:
    whatever happens next can only reach the wait through its watch."""

    def observe(observation: Observation[Any]) -> None:
        if not seen:
            later(action)
        seen.append(observation)

    return observe


def test_nodes_are_noticed_by_the_watch_not_by_looking_again(kube: KubeApiServer, api: Any) -> None:
    kube.create("v1/nodes", node("a", ready=False))
    seen: list[Observation[Any]] = []

    def the_world_moves() -> None:
        kube.create("v1/nodes", node("b", ready=False))
        mark_ready(kube, "a")
        mark_ready(kube, "b")

    stats = WatchStats()
    observe = after_the_list(the_world_moves, seen)
    nodes = wait_nodes_ready(api, expected=2, timeout=20, on_observation=observe, stats=stats)
    assert [(n.name, n.ready) for n in nodes] == [("a", True), ("b", True)]
    assert (stats.lists, stats.watches, stats.gone) == (1, 1, 0)
    assert stats.events >= 3  # b added, a Ready, b Ready
    assert seen[0].failing == ("node a not Ready", "1 of 2 nodes registered")
    assert (seen[-1].done, seen[-1].total) == (2, 2)


def test_ready_at_the_list_needs_no_watch(kube: KubeApiServer, api: Any) -> None:
    kube.create("v1/nodes", node("a", ready=True))
    stats = WatchStats()
    assert [n.name for n in wait_nodes_ready(api, expected=1, timeout=5, stats=stats)] == ["a"]
    assert (stats.lists, stats.watches) == (1, 0)


def test_a_deleted_node_no_longer_counts(kube: KubeApiServer, api: Any) -> None:
    kube.create("v1/nodes", node("a", ready=True))
    kube.create("v1/nodes", node("b", ready=False))
    seen: list[Observation[Any]] = []

    def replace_b() -> None:
        kube.delete("v1/nodes", "b")
        kube.create("v1/nodes", node("c", ready=True))

    observe = after_the_list(replace_b, seen)
    nodes = wait_nodes_ready(api, expected=2, timeout=20, on_observation=observe)
    assert [n.name for n in nodes] == ["a", "c"]
    assert any(o.total == 2 and o.done == 1 and not o.ready for o in seen)


def test_a_410_gone_relists_and_the_wait_goes_on(kube: KubeApiServer, api: Any) -> None:
    kube.create("v1/nodes", node("a", ready=False))
    kube.create("v1/nodes", node("churn", ready=True))
    window = kube.backend._events.maxlen or 0
    calls = 0

    def judge(objects: list[Any]) -> Observation[list[Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            # Between the list and the watch, more changes than the server keeps: the watch
            # from the listed resourceVersion gets 410 Gone.
            for index in range(window + 1):
                kube.patch("v1/nodes", "churn", {"metadata": {"annotations": {"n": str(index)}}})
            later(lambda: mark_ready(kube, "a"), delay=0.5)
        return nodes_observation([node_info(o) for o in objects if o.metadata.name == "a"], 1)

    stats = WatchStats()
    waiter: ObjectWatch[list[Any]] = ObjectWatch(
        core_v1(api).list_node, judge, what="node a Ready", stats=stats
    )
    nodes = waiter.wait(30)
    assert [(n.name, n.ready) for n in nodes] == [("a", True)]
    assert stats.gone == 1
    assert stats.lists == 2


def test_a_wait_that_never_ends_times_out_naming_what_fails(api: Any) -> None:
    with pytest.raises(WaitTimeout, match="0 of 1 nodes registered"):
        wait_nodes_ready(api, expected=1, timeout=1.5)


def test_an_api_that_does_not_answer_yet_is_waited_out(kube: KubeApiServer, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    kube.write_kubeconfig(path, cluster_name="w.k8s.local", user="admin", token="t0ken")
    text = path.read_text()
    server = kube.url.rsplit(":", 1)[0]
    closed = tmp_path / "closed"
    closed.write_text(text.replace(kube.url, f"{server}:1"))
    stats = WatchStats()
    with pytest.raises(WaitTimeout):
        wait_nodes_ready(kube_api(str(closed)), expected=1, timeout=1.2, stats=stats)
    assert stats.errors and stats.lists >= 2


def test_the_service_hostname_arrives_by_watch(kube: KubeApiServer, api: Any) -> None:
    kube.create(
        "v1/services",
        {
            "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        },
    )
    hostname = {"status": {"loadBalancer": {"ingress": [{"hostname": "nlb.example"}]}}}
    stats = WatchStats()
    observe = after_the_list(
        lambda: kube.patch("v1/services", "nginx", hostname, "default", subresource="status"), []
    )
    info = wait_service_hostname(
        api, "default", "nginx", timeout=20, on_observation=observe, stats=stats
    )
    assert info.hostname == "nlb.example"
    assert (stats.lists, stats.watches) == (1, 1)
