"""Service defaulting and allocation through the official client."""

from __future__ import annotations

import ipaddress
import json

import pytest
from kubernetes import client

from sandbox.k8s import KubeApiServer


def _lb(name: str = "web", policy: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {
        "type": "LoadBalancer",
        "selector": {"app": "nginx"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "alt", "port": 81}],
    }
    if policy:
        spec["externalTrafficPolicy"] = policy
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def test_load_balancer_defaults(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service("default", _lb())
    spec = svc.spec
    assert ipaddress.ip_address(spec.cluster_ip) in ipaddress.ip_network("100.64.0.0/13")
    assert spec.cluster_ips == [spec.cluster_ip]
    assert spec.external_traffic_policy == "Cluster"
    assert spec.health_check_node_port is None
    assert spec.session_affinity == "None"
    assert spec.allocate_load_balancer_node_ports is True
    assert [(p.protocol, p.port, p.target_port) for p in spec.ports] == [
        ("TCP", 80, 8080),
        ("TCP", 81, 81),
    ]
    node_ports = [p.node_port for p in spec.ports]
    assert all(30000 <= port <= 32767 for port in node_ports) and len(set(node_ports)) == 2
    assert svc.status.load_balancer.ingress is None
    other = core.create_namespaced_service("default", _lb("other"))
    assert other.spec.cluster_ip != spec.cluster_ip
    assert not set(node_ports) & {p.node_port for p in other.spec.ports}


def test_health_check_node_port_follows_external_traffic_policy(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service("default", _lb(policy="Local"))
    first = svc.spec.health_check_node_port
    node_ports = [p.node_port for p in svc.spec.ports]
    assert 30000 <= first <= 32767 and first not in node_ports

    cluster = core.patch_namespaced_service(
        "web", "default", {"spec": {"externalTrafficPolicy": "Cluster"}}
    )
    assert cluster.spec.external_traffic_policy == "Cluster"
    assert cluster.spec.health_check_node_port is None
    assert [p.node_port for p in cluster.spec.ports] == node_ports
    assert cluster.spec.cluster_ip == svc.spec.cluster_ip

    local = core.patch_namespaced_service(
        "web", "default", {"spec": {"externalTrafficPolicy": "Local"}}
    )
    assert local.spec.health_check_node_port is not None
    assert local.spec.health_check_node_port not in node_ports
    assert core.read_namespaced_service("web", "default").spec.health_check_node_port == (
        local.spec.health_check_node_port
    )
    ports_only = core.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    )
    assert [p.node_port for p in ports_only.spec.ports] == node_ports[:1]  # kept for the same port


def test_type_changes_and_replace(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service(
        "default",
        {"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
    )
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    assert svc.spec.external_traffic_policy == "Cluster"
    cluster_ip = core.patch_namespaced_service("web", "default", {"spec": {"type": "ClusterIP"}})
    assert cluster_ip.spec.ports[0].node_port is None
    assert cluster_ip.spec.external_traffic_policy is None

    body = {
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "externalTrafficPolicy": "Local"},
    }
    replaced = core.replace_namespaced_service("web", "default", body)
    assert replaced.spec.cluster_ip == svc.spec.cluster_ip  # a PUT without clusterIP keeps it
    assert replaced.spec.health_check_node_port is not None
    assert 30000 <= replaced.spec.ports[0].node_port <= 32767  # node_port was released before
    moved = dict(body, spec={**body["spec"], "clusterIP": "100.64.0.99"})  # type: ignore[dict-item]
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_service("web", "default", moved)
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert "field is immutable" in status["message"]


def test_invalid_services(core: client.CoreV1Api, server: KubeApiServer) -> None:
    taken = (
        core.create_namespaced_service(
            "default",
            {"metadata": {"name": "a"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
        )
        .spec.ports[0]
        .node_port
    )
    clash = {
        "metadata": {"name": "b"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": taken}]},
    }
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_service("default", clash)
    assert caught.value.status == 422
    assert "provided port is already allocated" in json.loads(caught.value.body)["message"]
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_service(
            "default",
            {"metadata": {"name": "c"}, "spec": {"type": "Magic", "ports": [{"port": 1}]}},
        )
    assert caught.value.status == 422
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "9-bad"}, "spec": {"ports": [{"port": 1}]}}
        )
    assert caught.value.status == 422
    assert server.get("v1/services", "b") is None
