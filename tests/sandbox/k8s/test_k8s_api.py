"""The twin's API surface through the official client: discovery, CRUD, errors, selectors."""

from __future__ import annotations

import json
import stat
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_support import TOKEN
from kubernetes import client

from sandbox.k8s import KubeApiServer


def _error(call: Callable[[], object]) -> client.ApiException:
    with pytest.raises(client.ApiException) as caught:
        call()
    return caught.value


def _status(error: client.ApiException) -> dict[str, Any]:
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def test_discovery(api_client: client.ApiClient) -> None:
    assert client.VersionApi(api_client).get_code().git_version == "v1.35.0"
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = client.ApisApi(api_client).get_api_versions().groups
    assert [group.name for group in groups] == ["apps"]
    core = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"namespaces", "nodes", "pods", "pods/log", "services", "services/status"} <= set(core)
    assert core["pods"].namespaced and not core["nodes"].namespaced
    assert core["pods"].kind == "Pod"
    apps = client.AppsV1Api(api_client).get_api_resources()
    assert apps.group_version == "apps/v1"
    assert {r.name for r in apps.resources} == {
        "deployments",
        "deployments/status",
        "deployments/scale",
    }


def test_kubeconfig_is_private_and_token_is_required(
    server: KubeApiServer, kubeconfig: Path, core: client.CoreV1Api
) -> None:
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    written = yaml.safe_load(kubeconfig.read_text())
    assert written["clusters"][0]["cluster"]["server"] == server.url
    assert server.url.startswith("http://127.0.0.1:")
    assert written["users"][0]["user"] == {"token": TOKEN}
    assert written["current-context"] == "twin.k8s.local"
    core.list_namespace()
    anonymous = client.CoreV1Api(client.ApiClient(client.Configuration(host=server.url)))
    error = _error(lambda: anonymous.list_namespace())
    assert (error.status, _status(error)["reason"]) == (401, "Unauthorized")
    with urllib.request.urlopen(f"{server.url}/healthz") as response:
        assert response.read() == b"ok"
    recorded = list(server.handler.recent_requests)
    assert recorded and all(TOKEN not in repr(request) for request in recorded)


def test_default_namespaces_and_namespace_lifecycle(core: client.CoreV1Api) -> None:
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
    created = core.create_namespace({"metadata": {"name": "demo"}})
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == "demo"
    assert core.read_namespace("demo").metadata.uid == created.metadata.uid
    core.create_namespaced_config_map("demo", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    core.delete_namespace("demo")
    assert _error(lambda: core.read_namespace("demo")).status == 404
    assert _error(lambda: core.read_namespaced_config_map("cm", "demo")).status == 404
    error = _error(lambda: core.delete_namespace("kube-system"))
    assert (error.status, _status(error)["reason"]) == (403, "Forbidden")
    error = _error(
        lambda: core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    )
    assert _status(error)["message"] == 'namespaces "nowhere" not found'


def test_create_defaults_metadata(
    apps: client.AppsV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    created = apps.create_namespaced_deployment("default", deployment())
    meta = created.metadata
    assert meta.namespace == "default"
    assert len(meta.uid) == 36
    assert meta.generation == 1
    assert int(meta.resource_version) > 0
    assert meta.creation_timestamp.tzinfo is not None
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    again = apps.read_namespaced_deployment("nginx", "default")
    assert again.metadata.uid == meta.uid


def test_not_found_and_already_exists(
    apps: client.AppsV1Api, core: client.CoreV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    error = _error(lambda: apps.read_namespaced_deployment("nginx", "default"))
    assert error.status == 404
    assert _status(error)["message"] == 'deployments.apps "nginx" not found'
    assert _status(error)["reason"] == "NotFound"
    assert _error(lambda: core.read_namespaced_pod("nope", "default")).status == 404
    assert _error(lambda: apps.patch_namespaced_deployment("nginx", "default", {})).status == 404
    assert _error(lambda: apps.delete_namespaced_deployment("nginx", "default")).status == 404
    apps.create_namespaced_deployment("default", deployment())
    error = _error(lambda: apps.create_namespaced_deployment("default", deployment()))
    assert (error.status, _status(error)["reason"]) == (409, "AlreadyExists")
    assert _status(error)["message"] == 'deployments.apps "nginx" already exists'


def test_invalid_objects_are_rejected(
    apps: client.AppsV1Api, core: client.CoreV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    body = deployment()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    error = _error(lambda: apps.create_namespaced_deployment("default", body))
    status = _status(error)
    assert (error.status, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(
        'Deployment.apps "nginx" is invalid: spec.template.metadata.labels'
    )
    error = _error(
        lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    )
    assert error.status == 422
    error = _error(lambda: core.create_namespaced_config_map("default", {"metadata": {}}))
    assert error.status == 422
    generated = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cm-"}})
    assert generated.metadata.name.startswith("cm-") and len(generated.metadata.name) == 8


def test_patch_content_types(
    apps: client.AppsV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    created = apps.create_namespaced_deployment("default", deployment())
    # The client sends a dict body as application/strategic-merge-patch+json.
    patched = apps.patch_namespaced_deployment(
        "nginx", "default", {"metadata": {"labels": {"team": "net"}}, "spec": {"replicas": 3}}
    )
    assert patched.metadata.labels == {"app": "nginx", "team": "net"}
    assert patched.spec.replicas == 3
    assert patched.metadata.generation == 2
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    relabelled = apps.patch_namespaced_deployment(
        "nginx", "default", {"metadata": {"labels": {"team": None}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert relabelled.metadata.labels == {"app": "nginx"}
    assert relabelled.metadata.generation == 2  # metadata only
    json_patched = apps.patch_namespaced_deployment(
        "nginx", "default", [{"op": "replace", "path": "/spec/replicas", "value": 1}]
    )
    assert json_patched.spec.replicas == 1
    assert json_patched.metadata.generation == 3
    same = apps.patch_namespaced_deployment("nginx", "default", {"spec": {"replicas": 1}})
    assert same.metadata.generation == 3  # a no-op patch changes nothing
    error = _error(
        lambda: apps.patch_namespaced_deployment(
            "nginx", "default", {"spec": {}}, _content_type="application/apply-patch+yaml"
        )
    )
    assert error.status == 415
    error = _error(
        lambda: apps.patch_namespaced_deployment(
            "nginx", "default", {"spec": {"selector": {"matchLabels": {"app": "x"}}}}
        )
    )
    assert error.status == 422 and "spec.selector" in _status(error)["message"]


def test_replace_and_optimistic_concurrency(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    body = created.to_dict()
    body["data"] = {"b": "2"}
    replaced = core.replace_namespaced_config_map("cm", "default", body)
    assert replaced.data == {"b": "2"}
    assert replaced.metadata.uid == created.metadata.uid
    stale = dict(body, data={"c": "3"})
    error = _error(lambda: core.replace_namespaced_config_map("cm", "default", stale))
    assert (error.status, _status(error)["reason"]) == (409, "Conflict")
    assert "the object has been modified" in _status(error)["message"]
    missing = _error(
        lambda: core.replace_namespaced_config_map(
            "nope", "default", {"metadata": {"name": "nope"}}
        )
    )
    assert missing.status == 404
    renamed = _error(
        lambda: core.replace_namespaced_config_map("cm", "default", {"metadata": {"name": "x"}})
    )
    assert renamed.status == 400


def test_status_subresource_is_separate(
    apps: client.AppsV1Api, core: client.CoreV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    ignored = core.patch_namespaced_service(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"hostname": "x"}]}}}
    )
    assert ignored.status.load_balancer.ingress is None
    ingress = {"status": {"loadBalancer": {"ingress": [{"hostname": "nlb.example"}]}}}
    patched = core.patch_namespaced_service_status("web", "default", ingress)
    assert patched.status.load_balancer.ingress[0].hostname == "nlb.example"
    assert core.read_namespaced_service_status("web", "default").status.load_balancer.ingress
    unchanged_spec = core.patch_namespaced_service_status(
        "web", "default", {"spec": {"type": "ClusterIP"}}
    )
    assert unchanged_spec.spec.type == "LoadBalancer"

    apps.create_namespaced_deployment("default", deployment(replicas=0))
    status = apps.patch_namespaced_deployment_status(
        "nginx", "default", {"status": {"replicas": 9}}
    )
    assert status.status.replicas == 9
    assert status.metadata.generation == 1


def test_scale_subresource(
    apps: client.AppsV1Api, deployment: Callable[..., dict[str, Any]]
) -> None:
    apps.create_namespaced_deployment("default", deployment(replicas=1))
    scale = apps.read_namespaced_deployment_scale("nginx", "default")
    assert (scale.spec.replicas, scale.status.selector) == (1, "app=nginx")
    scaled = apps.patch_namespaced_deployment_scale("nginx", "default", {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    assert apps.read_namespaced_deployment("nginx", "default").spec.replicas == 4


def test_label_and_field_selectors(core: client.CoreV1Api, server: KubeApiServer) -> None:
    for name, labels in [("a", {"app": "nginx", "tier": "a"}), ("b", {"app": "nginx", "tier": "b"}),
                         ("c", {"app": "other"}), ("d", {})]:  # fmt: skip
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map("default", label_selector=selector).items
        return [item.metadata.name for item in items]

    assert names("app=nginx") == ["a", "b"]
    assert names("app=nginx,tier in (a,b)") == ["a", "b"]
    assert names("app!=nginx") == ["c", "d"]
    assert names("tier notin (a)") == ["b", "c", "d"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "d"]
    assert _error(lambda: names("tier in (a")).status == 400
    fielded = core.list_namespaced_config_map("default", field_selector="metadata.name=c").items
    assert [item.metadata.name for item in fielded] == ["c"]
    assert (
        _error(lambda: core.list_namespaced_config_map("default", field_selector="data.k=1")).status
        == 400
    )
    assert [
        o["metadata"]["name"] for o in server.list("v1/configmaps", label_selector="tier=b")
    ] == ["b"]

    server.create("v1/pods", {"metadata": {"name": "p1", "namespace": "default"},
                              "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}})  # fmt: skip
    server.create("v1/pods", {"metadata": {"name": "p2", "namespace": "default"},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}})  # fmt: skip
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items
    assert [pod.metadata.name for pod in on_node] == ["p1"]


def test_pagination(core: client.CoreV1Api) -> None:
    for index in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["cm-2", "cm-3", "cm-4"]
    assert rest.metadata._continue is None


def test_finalizers_hold_deletion(core: client.CoreV1Api, server: KubeApiServer) -> None:
    finalizer = "service.kubernetes.io/load-balancer-cleanup"
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "web", "finalizers": [finalizer]}, "spec": {"ports": [{"port": 80}]}},
    )
    marked = core.delete_namespaced_service("web", "default")
    assert marked.metadata.deletion_timestamp is not None
    still = core.read_namespaced_service("web", "default")
    assert still.metadata.finalizers == [finalizer]
    assert still.metadata.deletion_timestamp is not None
    error = _error(
        lambda: core.patch_namespaced_service(
            "web", "default", {"metadata": {"finalizers": [finalizer, "example.com/more"]}}
        )
    )
    assert error.status == 422
    core.patch_namespaced_service("web", "default", {"metadata": {"finalizers": None}})
    assert _error(lambda: core.read_namespaced_service("web", "default")).status == 404

    server.create("v1/configmaps", {"metadata": {"name": "cm", "finalizers": ["example.com/x"]}})
    server.delete("v1/configmaps", "cm")
    assert server.get("v1/configmaps", "cm")["metadata"]["deletionTimestamp"]  # type: ignore[index]
    server.patch("v1/configmaps", "cm", {"metadata": {"finalizers": []}})
    assert server.get("v1/configmaps", "cm") is None


def test_dry_run_changes_nothing(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}}, dry_run="All")
    assert _error(lambda: core.read_namespaced_config_map("cm", "default")).status == 404
