"""Pure pieces of the kube-apiserver twin: paths, selectors, defaulting, patches."""

from __future__ import annotations

import random

import pytest

from sandbox.k8s.defaulting import NODE_PORT_RANGE, SERVICE_CIDR, default_service
from sandbox.k8s.exceptions import KubeApiError, not_found
from sandbox.k8s.patches import apply_patch
from sandbox.k8s.resources import ApiPath, parse_path
from sandbox.k8s.selectors import parse_field_selector, parse_label_selector


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api", ApiPath(group="")),
        ("/api/v1", ApiPath(group="", version="v1")),
        ("/apis/apps", ApiPath(group="apps")),
        ("/apis/apps/v1", ApiPath(group="apps", version="v1")),
        ("/api/v1/namespaces", ApiPath("", "v1", "namespaces")),
        ("/api/v1/namespaces/demo", ApiPath("", "v1", "namespaces", None, "demo")),
        ("/api/v1/namespaces/demo/status", ApiPath("", "v1", "namespaces", None, "demo", "status")),
        ("/api/v1/namespaces/demo/pods", ApiPath("", "v1", "pods", "demo")),
        ("/api/v1/namespaces/demo/pods/p/log", ApiPath("", "v1", "pods", "demo", "p", "log")),
        ("/api/v1/nodes/n1/status", ApiPath("", "v1", "nodes", None, "n1", "status")),
        ("/api/v1/pods", ApiPath("", "v1", "pods")),
        (
            "/apis/apps/v1/namespaces/d/deployments/x/scale",
            ApiPath("apps", "v1", "deployments", "d", "x", "scale"),
        ),
        ("/version", ApiPath()),
        ("/healthz", ApiPath()),
    ],
)
def test_parse_path(path: str, expected: ApiPath) -> None:
    assert parse_path(path) == expected


LABELS = {"app": "nginx", "tier": "web", "rank": "5", "example.com/team": "net"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=nginx", True),
        ("app==nginx", True),
        ("app=apache", False),
        ("app!=apache", True),
        ("app!=nginx", False),
        ("missing!=x", True),
        ("tier in (web, db)", True),
        ("tier in (db)", False),
        ("tier notin (db,cache)", True),
        ("tier notin (web)", False),
        ("missing notin (web)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("rank>3", True),
        ("rank<3", False),
        ("example.com/team=net", True),
        ("app=nginx,tier in (a,b)", False),
        ("app=nginx, tier in (a,web) ,!canary", True),
        ("app=", False),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    ["app=nginx,", "tier in web", "tier in (a", "=x", "app=bad value", "rank>x", "Bad Key=1"],
)
def test_label_selector_syntax_errors_are_bad_requests(selector: str) -> None:
    with pytest.raises(KubeApiError) as caught:
        parse_label_selector(selector)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


def test_field_selector() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "hostNetwork": False}}
    supported = frozenset({"metadata.name", "spec.nodeName", "spec.hostNetwork", "status.phase"})
    assert parse_field_selector("spec.nodeName=n1", supported).matches(pod)
    assert parse_field_selector("spec.nodeName==n1,metadata.name!=q", supported).matches(pod)
    assert not parse_field_selector("spec.nodeName=n2", supported).matches(pod)
    assert parse_field_selector("spec.hostNetwork=false", supported).matches(pod)
    assert parse_field_selector("status.phase=", supported).matches(pod)
    with pytest.raises(KubeApiError) as caught:
        parse_field_selector("spec.unknown=1", supported)
    assert caught.value.code == 400
    assert '"spec.unknown" is not a known field selector' in caught.value.message


def test_status_bodies_have_the_real_shape() -> None:
    status = not_found("deployments", "apps", "nginx").to_status()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nginx" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nginx", "kind": "deployments", "group": "apps"},
    }
    assert not_found("pods", "", "p").message == 'pods "p" not found'


@pytest.mark.parametrize(
    ("patch", "patch_type", "expected"),
    [
        ({"spec": {"replicas": 3}}, "merge", {"spec": {"replicas": 3, "ports": [1, 2]}, "x": 1}),
        ({"x": None}, "merge", {"spec": {"replicas": 1, "ports": [1, 2]}}),
        ({"spec": {"ports": [3]}}, "strategic", {"spec": {"replicas": 1, "ports": [3]}, "x": 1}),
        (
            {"$setElementOrder/ports": [], "spec": {"$retainKeys": ["a"], "replicas": 2}},
            "strategic",
            {"spec": {"replicas": 2, "ports": [1, 2]}, "x": 1},
        ),
        (
            [
                {"op": "replace", "path": "/spec/replicas", "value": 4},
                {"op": "remove", "path": "/x"},
            ],
            "json",
            {"spec": {"replicas": 4, "ports": [1, 2]}},
        ),
    ],
)
def test_apply_patch(patch: object, patch_type: str, expected: dict[str, object]) -> None:
    doc = {"spec": {"replicas": 1, "ports": [1, 2]}, "x": 1}
    assert apply_patch(doc, patch, patch_type) == expected
    assert doc == {"spec": {"replicas": 1, "ports": [1, 2]}, "x": 1}


def test_failing_json_patch_is_invalid() -> None:
    with pytest.raises(KubeApiError) as caught:
        apply_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}], "json")
    assert caught.value.code == 422


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
