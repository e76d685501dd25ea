"""nginx, its pods and nodes as the procedure sees them (pure)."""

from __future__ import annotations

import pytest

from kops_nlb.core.workload import (
    NodeInfo,
    PodInfo,
    instance_id_from_provider_id,
    instance_ids_of,
    nginx_nodes,
    rollout_observation,
)


@pytest.mark.parametrize(
    ("provider_id", "instance_id"),
    [
        ("aws:///ap-northeast-1a/i-0abc", "i-0abc"),
        ("aws:///ap-northeast-1a/i-0abc/", "i-0abc"),
        ("aws://ap-northeast-1a/i-1", "i-1"),
        ("kwok://node-1", None),
        ("aws:///ap-northeast-1a/not-an-instance", None),
        ("", None),
        (None, None),
    ],
)
def test_instance_id_from_provider_id(provider_id: str | None, instance_id: str | None) -> None:
    assert instance_id_from_provider_id(provider_id) == instance_id


@pytest.mark.parametrize(
    ("counts", "ready", "failing"),
    [
        (
            {
                "wanted": 2,
                "ready": 2,
                "updated": 2,
                "observed_generation": 3,
                "generation": 3,
                "replicas": 2,
            },
            True,
            (),
        ),
        (
            {
                "wanted": 2,
                "ready": 1,
                "updated": 2,
                "observed_generation": 3,
                "generation": 3,
                "replicas": 2,
            },
            False,
            ("1/2 replicas ready",),
        ),
        (
            {
                "wanted": 2,
                "ready": 2,
                "updated": 1,
                "observed_generation": 3,
                "generation": 3,
                "replicas": 2,
            },
            False,
            ("2/2 replicas ready", "1 old replicas still running"),
        ),
        (
            {
                "wanted": 2,
                "ready": 2,
                "updated": 2,
                "observed_generation": 2,
                "generation": 3,
                "replicas": 2,
            },
            False,
            ("2/2 replicas ready",),
        ),
        (
            # Two new pods, one not ready yet, and an old one still ready: not rolled out.
            {
                "wanted": 2,
                "ready": 2,
                "updated": 2,
                "observed_generation": 3,
                "generation": 3,
                "replicas": 3,
            },
            False,
            ("2/2 replicas ready", "1 old replicas still running"),
        ),
    ],
    ids=[
        "rolled-out",
        "one-not-ready",
        "old-replica-left",
        "generation-not-seen",
        "old-pod-still-counted",
    ],
)
def test_rollout_observation(counts: dict[str, int], ready: bool, failing: tuple[str, ...]) -> None:
    observation = rollout_observation(**counts)
    assert (observation.ready, observation.failing) == (ready, failing)
    assert (observation.done, observation.total) == (counts["ready"], counts["wanted"])


def pod(name: str, node: str | None) -> PodInfo:
    return PodInfo(name=name, node=node, pod_ip=None, host_ip=None, ready=True)


def node(name: str, instance_id: str | None) -> NodeInfo:
    return NodeInfo(
        name=name,
        instance_id=instance_id,
        internal_ip=None,
        zone=None,
        control_plane=False,
        ready=True,
    )


def test_nginx_nodes_are_distinct_and_sorted() -> None:
    assert nginx_nodes([pod("a", "n2"), pod("b", "n1"), pod("c", "n2"), pod("d", None)]) == [
        "n1",
        "n2",
    ]


def test_instance_ids_of_keeps_the_order_given_and_skips_unknown_nodes() -> None:
    nodes = [node("n1", "i-1"), node("n2", "i-2"), node("n3", None)]
    assert instance_ids_of(["n2", "n1", "n3", "n9"], nodes) == ["i-2", "i-1"]


def test_target_ids_are_instances_or_ready_pod_addresses() -> None:
    from kops_nlb.core.workload import NodeInfo, PodInfo, target_ids

    pods = [
        PodInfo(name="a", node="n1", pod_ip="10.1.0.5", host_ip=None, ready=True),
        PodInfo(name="b", node="n2", pod_ip="10.2.0.5", host_ip=None, ready=False),
    ]
    nodes = [
        NodeInfo(
            name=name,
            instance_id=f"i-{name}",
            internal_ip=None,
            zone=None,
            control_plane=False,
            ready=True,
        )
        for name in ("n1", "n2", "n3")
    ]
    assert target_ids("instance", pods, nodes) == ["i-n1", "i-n2"]
    assert target_ids("ip", pods, nodes) == ["10.1.0.5"]
