"""Service defaulting and validation of the kube-apiserver twin: allocations, policies."""

from __future__ import annotations

import random

from sandbox.k8s.defaulting import NODE_PORT_RANGE, SERVICE_CIDR, default_service


def _service(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}], **spec}}


def test_service_defaults_for_cluster_ip() -> None:
    service = _service()
    causes = default_service(
        service, None, used_cluster_ips=set(), used_node_ports=set(), rng=random.Random(1)
    )
    spec = service["spec"]
    assert causes == []
    assert isinstance(spec, dict)
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["clusterIP"].startswith("100.")
    assert "externalTrafficPolicy" not in spec
    assert "healthCheckNodePort" not in spec


def test_service_health_check_port_follows_the_traffic_policy() -> None:
    rng = random.Random(2)
    service = _service(type="LoadBalancer", externalTrafficPolicy="Local")
    assert not default_service(
        service, None, used_cluster_ips=set(), used_node_ports={30080}, rng=rng
    )
    spec = service["spec"]
    assert isinstance(spec, dict)
    health = spec["healthCheckNodePort"]
    node_port = spec["ports"][0]["nodePort"]
    assert health in NODE_PORT_RANGE and node_port in NODE_PORT_RANGE
    assert len({health, node_port, 30080}) == 3

    switched = {**service, "spec": {**spec, "externalTrafficPolicy": "Cluster"}}
    assert not default_service(
        switched, service, used_cluster_ips=set(), used_node_ports=set(), rng=rng
    )
    assert "healthCheckNodePort" not in switched["spec"]
    assert switched["spec"]["ports"][0]["nodePort"] == node_port

    explicit = _service(type="LoadBalancer", healthCheckNodePort=31000)
    causes = default_service(explicit, None, used_cluster_ips=set(), used_node_ports=set(), rng=rng)
    assert [cause.field for cause in causes] == ["spec.healthCheckNodePort"]


def test_service_keeps_allocations_when_a_put_omits_them() -> None:
    rng = random.Random(3)
    old = _service(type="NodePort")
    default_service(old, None, used_cluster_ips=set(), used_node_ports=set(), rng=rng)
    new = _service(type="NodePort")
    assert not default_service(new, old, used_cluster_ips=set(), used_node_ports=set(), rng=rng)
    assert new["spec"]["clusterIP"] == old["spec"]["clusterIP"]  # type: ignore[index]
    assert new["spec"]["ports"] == old["spec"]["ports"]  # type: ignore[index]
    moved = _service(type="NodePort", clusterIP=str(SERVICE_CIDR.network_address + 7))
    causes = default_service(moved, old, used_cluster_ips=set(), used_node_ports=set(), rng=rng)
    assert [cause.message.endswith("field is immutable") for cause in causes] == [True]


def test_service_rejects_taken_node_ports_and_unnamed_multi_ports() -> None:
    rng = random.Random(4)
    service = {
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}, {"port": 443}]},
    }
    causes = default_service(
        service, None, used_cluster_ips=set(), used_node_ports={30080}, rng=rng
    )
    assert sorted(cause.field for cause in causes) == [
        "spec.ports[0].name",
        "spec.ports[0].nodePort",
        "spec.ports[1].name",
    ]
