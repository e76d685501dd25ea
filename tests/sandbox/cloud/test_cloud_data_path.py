"""The data path as pure decisions: which Service an NLB serves, what kube-proxy answers on each
node, how a configured NLB forwards, and what its DNS name answers."""

from __future__ import annotations

from typing import Any

from sandbox.aws.load_balancers import ConfiguredBalancer, ConfiguredGroup
from sandbox.cloud.data_path import (
    ClusterNode,
    answering_addresses,
    balancer_plan,
    cluster_nodes,
    node_ports,
    owning_service,
    service_endpoints,
)

CLUSTER = "demo.k8s.local"
A, C = "ap-northeast-1a", "ap-northeast-1c"
NODE_A = ClusterNode("node-a", "i-0a", "127.20.1.10", A, ready=True, worker=True)
NODE_C = ClusterNode("node-c", "i-0c", "127.20.2.10", C, ready=True, worker=True)
CONTROL = ClusterNode("cp", "i-0f", "127.20.1.5", A, ready=True, worker=False)


def service(policy: str = "Local", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": policy,
            "selector": {"app": "nginx"},
            "ports": [{"port": 80, "targetPort": 80, "nodePort": 30080}],
            "healthCheckNodePort": 31080,
            **spec,
        },
    }


def pod(ip: str, node: str, *, ready: bool = True, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "labels": {"app": "nginx"}, **meta},
        "spec": {"nodeName": node},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def balancer(group: ConfiguredGroup, **tags: str) -> ConfiguredBalancer:
    return ConfiguredBalancer(
        arn="arn:lb",
        name="a123",
        dns_name="a123.elb.example",
        active=True,
        tags=tags,
        interfaces=(("127.20.1.50", A), ("127.20.2.50", C)),
        listeners=((80, group),),
        cross_zone=False,
    )


def test_an_nlb_serves_the_service_its_controllers_tags_name_in_this_cluster_only() -> None:
    ccm = {
        "kubernetes.io/service-name": "default/nginx",
        f"kubernetes.io/cluster/{CLUSTER}": "owned",
    }
    lbc = {"service.k8s.aws/stack": "default/nginx", "elbv2.k8s.aws/cluster": CLUSTER}
    assert owning_service(ccm, CLUSTER) == owning_service(lbc, CLUSTER) == "default/nginx"
    assert owning_service(ccm, "other.k8s.local") is None
    assert owning_service(lbc, "other.k8s.local") is None
    assert owning_service({"kubernetes.io/service-name": "default/nginx"}, CLUSTER) is None


def test_nodes_are_the_instances_with_their_address_zone_and_role() -> None:
    nodes = cluster_nodes(
        [
            {
                "metadata": {
                    "name": "cp",
                    "labels": {
                        "node-role.kubernetes.io/control-plane": "",
                        "topology.kubernetes.io/zone": A,
                    },
                },
                "spec": {"providerID": f"aws:///{A}/i-0f"},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "127.20.1.5"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            },
            {"metadata": {"name": "kwok-node"}, "spec": {"providerID": "kwok://x"}},
        ]
    )
    assert nodes == [CONTROL]


def test_endpoints_are_the_selected_pods_with_an_address_not_being_deleted() -> None:
    pods = [
        pod("127.96.0.2", "node-a"),
        pod("127.96.1.2", "node-c", ready=False),
        pod("127.96.0.3", "node-a", deletionTimestamp="now"),
        pod("", "node-a"),
        {**pod("127.96.0.4", "node-a"), "metadata": {"namespace": "default", "labels": {}}},
    ]
    assert [(e.ip, e.node, e.ready) for e in service_endpoints(service(), pods)] == [
        ("127.96.0.2", "node-a", True),
        ("127.96.1.2", "node-c", False),
    ]


def test_kube_proxy_answers_health_checks_by_local_endpoints_under_local() -> None:
    pods = [pod("127.96.0.2", "node-a")]

    local = {
        p.node: p for p in node_ports([service()], [NODE_A, NODE_C, CONTROL], pods, lambda n: True)
    }
    assert set(local) == {"node-a", "node-c"}  # kube-proxy's ports on the workers
    assert [h.local_endpoints for h in local["node-a"].health_checks] == [1]
    assert [h.local_endpoints for h in local["node-c"].health_checks] == [0]
    assert (local["node-a"].traffic_ports, local["node-c"].traffic_ports) == ((30080,), ())

    cluster = node_ports([service("Cluster")], [NODE_A, NODE_C], pods, lambda n: True)
    assert all(p.traffic_ports == (30080,) and not p.health_checks for p in cluster)
    assert (
        node_ports([service()], [NODE_A, NODE_C], pods, lambda n: n is NODE_A)[0].node == "node-a"
    )


def test_an_instance_group_forwards_to_its_registered_nodes_with_their_health() -> None:
    group = ConfiguredGroup(
        arn="arn:tg",
        target_type="instance",
        attributes={"preserve_client_ip.enabled": "true"},
        targets=(("i-0a", 30080), ("i-0c", 30080), ("i-gone", 30080)),
    )
    endpoints = service_endpoints(service(), [pod("127.96.0.2", "node-a")])

    plan = balancer_plan(
        balancer(group),
        service(),
        [NODE_A, NODE_C, CONTROL],
        endpoints,
        healthy=lambda tg, target: (tg, target) == ("arn:tg", "i-0a"),
        running=lambda node: node is not NODE_C,
    )

    assert plan is not None
    assert [(t.node, t.zone, t.healthy, t.reachable) for t in plan.targets] == [
        ("node-a", A, True, True),
        ("node-c", C, False, False),
    ]
    assert plan.listeners == (("127.20.1.50", 80, A), ("127.20.2.50", 80, C))
    assert (plan.traffic_policy, plan.preserve_client_ip, plan.proxy_protocol_v2) == (
        "Local",
        True,
        False,
    )
    assert answering_addresses(balancer(group), plan) == ["127.20.1.50"]  # the healthy zone


def test_an_ip_group_forwards_to_the_registered_pods_and_a_zone_without_any_still_answers() -> None:
    group = ConfiguredGroup(
        arn="arn:tg",
        target_type="ip",
        attributes={"preserve_client_ip.enabled": "false", "proxy_protocol_v2.enabled": "true"},
        targets=(("127.96.1.2", 80),),
    )
    pods = [pod("127.96.0.2", "node-a"), pod("127.96.1.2", "node-c")]

    plan = balancer_plan(
        balancer(group),
        service(),
        [NODE_A, NODE_C],
        service_endpoints(service(), pods),
        healthy=lambda _tg, _target: False,
        running=lambda _node: True,
    )

    assert plan is not None and plan.target_type == "ip"
    assert [(t.node, t.zone) for t in plan.targets] == [("127.96.1.2", C)]
    assert (plan.preserve_client_ip, plan.proxy_protocol_v2) == (False, True)
    # No healthy target anywhere: DNS fails open to every zone.
    assert answering_addresses(balancer(group), plan) == ["127.20.1.50", "127.20.2.50"]


def test_an_nlb_without_a_listener_forwards_nothing() -> None:
    group = ConfiguredGroup(arn="arn:tg", target_type="instance", attributes={}, targets=())
    bare = ConfiguredBalancer(
        arn="arn:lb",
        name="a123",
        dns_name="a123.elb.example",
        active=True,
        tags={},
        interfaces=(("127.20.1.50", A),),
        listeners=(),
        cross_zone=False,
    )
    assert (
        balancer_plan(
            bare, service(), [NODE_A], [], healthy=lambda *_: True, running=lambda _: True
        )
        is None
    )
    assert (
        balancer_plan(
            balancer(group),
            service(),
            [NODE_A],
            [],
            healthy=lambda *_: True,
            running=lambda _: True,
        )
        is not None
    )
