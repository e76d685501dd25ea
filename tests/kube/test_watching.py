"""Waits by watch against a real kube-apiserver: one list, one watch, a relist on 410 Gone."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kops_nlb.core.errors import WaitTimeout
from kops_nlb.core.waiting import Observation
from kops_nlb.kube.client import core_v1, kube_api
from kops_nlb.kube.waits import nodes_observation, wait_nodes_ready, wait_service_hostname
from kops_nlb.kube.watching import ObjectWatch, WatchStats
from kops_nlb.kube.workload import node_info
from sandbox.dataplane.vpc_proxy import VpcProxy
from sandbox.kubelets.cluster_host import ClusterHost
from tests.contract.test_kube_apiserver import compact_etcd
from tests.twin_kube import running_cluster, write_admin_kubeconfig


class Nodes:
    """Node objects written straight to the apiserver, as kubelets would (no kubelet runs)."""

    def __init__(self, api: Any) -> None:
        self.core: Any = core_v1(api)

    def create(self, name: str, *, ready: bool) -> None:
        self.core.create_node({"metadata": {"name": name}})
        if ready:
            self.mark_ready(name)

    def mark_ready(self, name: str) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        self.core.patch_node_status(name, {"status": {"conditions": [condition]}})

    def delete(self, name: str) -> None:
        self.core.delete_node(name)

    def clear(self) -> None:
        for item in self.core.list_node().items:
            self.core.delete_node(item.metadata.name)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHost]:
    """A real control plane that watches etcd directly, so compacted history answers 410 Gone."""
    home = tmp_path_factory.mktemp("watching")
    with running_cluster(home, "w.k8s.local", apiserver_flags=("--watch-cache=false",)) as host:
        yield host


@pytest.fixture
def kubeconfig(cluster: ClusterHost, tmp_path: Path) -> str:
    return write_admin_kubeconfig(cluster, tmp_path / "kubeconfig")


@pytest.fixture
def api(kubeconfig: str) -> Any:
    return kube_api(kubeconfig)


@pytest.fixture
def kube(api: Any) -> Nodes:
    nodes = Nodes(api)
    nodes.clear()
    return nodes


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


def test_nodes_are_noticed_by_the_watch_not_by_looking_again(kube: Nodes, api: Any) -> None:
    kube.create("a", ready=False)
    seen: list[Observation[Any]] = []

    def the_world_moves() -> None:
        kube.create("b", ready=False)
        kube.mark_ready("a")
        kube.mark_ready("b")

    stats = WatchStats()
    observe = after_the_list(the_world_moves, seen)
    nodes = wait_nodes_ready(api, expected=2, timeout=20, on_observation=observe, stats=stats)
    assert [(n.name, n.ready) for n in nodes] == [("a", True), ("b", True)]
    assert (stats.lists, stats.watches, stats.gone) == (1, 1, 0)
    assert stats.events >= 3  # b added, a Ready, b Ready
    assert seen[0].failing == ("node a not Ready", "1 of 2 nodes registered")
    assert (seen[-1].done, seen[-1].total) == (2, 2)


def test_ready_at_the_list_needs_no_watch(kube: Nodes, api: Any) -> None:
    kube.create("a", ready=True)
    stats = WatchStats()
    assert [n.name for n in wait_nodes_ready(api, expected=1, timeout=5, stats=stats)] == ["a"]
    assert (stats.lists, stats.watches) == (1, 0)


def test_a_deleted_node_no_longer_counts(kube: Nodes, api: Any) -> None:
    kube.create("a", ready=True)
    kube.create("b", ready=False)
    seen: list[Observation[Any]] = []

    def replace_b() -> None:
        kube.delete("b")
        kube.create("c", ready=True)

    observe = after_the_list(replace_b, seen)
    nodes = wait_nodes_ready(api, expected=2, timeout=20, on_observation=observe)
    assert [n.name for n in nodes] == ["a", "c"]
    assert any(o.total == 2 and o.done == 1 and not o.ready for o in seen)


def test_a_410_gone_relists_and_the_wait_goes_on(
    kube: Nodes, api: Any, cluster: ClusterHost
) -> None:
    kube.create("a", ready=False)
    kube.create("churn", ready=True)
    calls = 0

    def judge(objects: list[Any]) -> Observation[list[Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            # Between the list and the watch, history moves on and etcd compacts it away: the
            # watch from the listed resourceVersion gets 410 Gone.
            for _ in range(2):
                kube.core.create_namespace({"metadata": {"name": f"churn-{uuid.uuid4().hex[:8]}"}})
            compact_etcd(cluster.control_plane.etcd_port)
            later(lambda: kube.mark_ready("a"), delay=0.5)
        return nodes_observation([node_info(o) for o in objects if o.metadata.name == "a"], 1)

    stats = WatchStats()
    waiter: ObjectWatch[list[Any]] = ObjectWatch(
        core_v1(api).list_node, judge, what="node a Ready", stats=stats
    )
    nodes = waiter.wait(30)
    assert [(n.name, n.ready) for n in nodes] == [("a", True)]
    assert stats.gone == 1
    assert stats.lists == 2


def test_a_wait_that_never_ends_times_out_naming_what_fails(kube: Nodes, api: Any) -> None:
    with pytest.raises(WaitTimeout, match="0 of 1 nodes registered"):
        wait_nodes_ready(api, expected=1, timeout=1.5)


def test_an_api_that_does_not_answer_yet_is_waited_out(
    cluster: ClusterHost, tmp_path: Path
) -> None:
    closed = write_admin_kubeconfig(cluster, tmp_path / "closed", server="https://127.0.0.1:1")
    stats = WatchStats()
    with pytest.raises(WaitTimeout):
        wait_nodes_ready(kube_api(closed), expected=1, timeout=1.2, stats=stats)
    assert stats.errors and stats.lists >= 2


def test_an_api_that_does_not_answer_is_said_once_and_tried_once_a_look(
    cluster: ClusterHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = write_admin_kubeconfig(cluster, tmp_path / "closed", server="https://127.0.0.1:1")
    stats = WatchStats()
    with caplog.at_level(logging.INFO), pytest.raises(WaitTimeout):
        wait_nodes_ready(
            kube_api(closed, retry_connections=False),
            expected=1,
            timeout=2.0,
            stats=stats,
            logger=logging.getLogger("wait"),
        )
    assert len(stats.errors) >= 3
    said = [r.getMessage() for r in caplog.records if r.name == "wait"]
    assert len([m for m in said if "listing again until it answers" in m]) == 1, said
    # urllib3 sent no request again on its own, so it warned of none.
    assert not [r for r in caplog.records if r.name.startswith("urllib3")]


@pytest.fixture
def refusing_proxy() -> Iterator[str]:
    """The twin's VPC proxy with no route: every CONNECT gets 502, as while an API load balancer
    is not routed yet."""
    proxy = VpcProxy(lambda _host, _port: None)
    yield proxy.start()
    proxy.stop()


def test_an_api_behind_a_failing_proxy_is_said_in_the_proxys_words(
    cluster: ClusterHost,
    tmp_path: Path,
    refusing_proxy: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", refusing_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    behind = write_admin_kubeconfig(
        cluster, tmp_path / "behind", server="https://api.behind-a-proxy.invalid:443"
    )
    with caplog.at_level(logging.INFO), pytest.raises(WaitTimeout) as timed_out:
        wait_nodes_ready(
            kube_api(behind, retry_connections=False),
            expected=1,
            timeout=1.0,
            logger=logging.getLogger("wait"),
        )
    said = [r.getMessage() for r in caplog.records if r.name == "wait"]
    reason = "MaxRetryError: Unable to connect to proxy: Tunnel connection failed: 502 Bad Gateway"
    assert f"nodes Ready: {reason}; listing again until it answers" in said[0], said
    assert timed_out.value.still_failing == (reason,)


def _list_result(names: list[str]) -> Any:
    items = [SimpleNamespace(metadata=SimpleNamespace(namespace=None, name=n)) for n in names]
    return SimpleNamespace(items=items, metadata=None)  # no resourceVersion: no watch


def test_an_outage_is_said_again_once_the_api_answered_in_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Any] = [
        OSError("connection refused"),
        OSError("connection refused"),
        _list_result([]),
        OSError("connection refused"),
        OSError("connection refused"),
        _list_result(["a"]),
    ]

    def list_things() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def judge(things: list[Any]) -> Observation[int]:
        return Observation(ready=bool(things), value=len(things), failing=("none yet",))

    waiter: ObjectWatch[int] = ObjectWatch(
        list_things, judge, what="things", logger=logging.getLogger("wait"), sleep=lambda _: None
    )
    with caplog.at_level(logging.INFO):
        assert waiter.wait(timeout=60) == 1
    said = [r.getMessage() for r in caplog.records if "listing again" in r.getMessage()]
    assert said == ["things: OSError: connection refused; listing again until it answers"] * 2
    assert len(waiter.stats.errors) == 4


def test_the_service_hostname_arrives_by_watch(api: Any) -> None:
    core: Any = core_v1(api)
    namespace = f"w-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "nginx"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        },
    )
    hostname = {"status": {"loadBalancer": {"ingress": [{"hostname": "nlb.example"}]}}}
    stats = WatchStats()
    observe = after_the_list(
        lambda: core.patch_namespaced_service_status("nginx", namespace, hostname), []
    )
    info = wait_service_hostname(
        api, namespace, "nginx", timeout=20, on_observation=observe, stats=stats
    )
    assert info.hostname == "nlb.example"
    assert (stats.lists, stats.watches) == (1, 1)
