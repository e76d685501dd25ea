"""Injected 5xx faults and request accounting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_support import TOKEN
from kubernetes import client, config

from sandbox.k8s import KubeApiServer


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[KubeApiServer, client.ApiClient]]:
    kube = KubeApiServer(fault_5xx_rate=0.3, seed=11)
    kube.start()
    kube.write_kubeconfig(tmp_path / "config", cluster_name="flaky", user="admin", token=TOKEN)
    try:
        yield kube, config.new_client_from_config(config_file=str(tmp_path / "config"))
    finally:
        kube.stop()


def test_fault_rate_is_roughly_respected_and_faults_touch_no_state(
    flaky: tuple[KubeApiServer, client.ApiClient],
) -> None:
    kube, api_client = flaky
    core = client.CoreV1Api(api_client)
    failures = 0
    for index in range(200):
        try:
            core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
        except client.ApiException as error:
            assert error.status == 503
            body = json.loads(error.body)
            assert (body["reason"], body["code"]) == ("ServiceUnavailable", 503)
            assert kube.get("v1/configmaps", f"cm-{index}") is None  # nothing was stored
            failures += 1
    assert 40 <= failures <= 80
    assert kube.faults_injected == failures
    assert len(kube.list("v1/configmaps")) == 200 - failures
    # Discovery is never faulted.
    for _ in range(30):
        client.VersionApi(api_client).get_code()
        client.CoreApi(api_client).get_api_versions()


def test_faults_are_reproducible_with_a_seed(tmp_path: Path) -> None:
    def pattern() -> list[int]:
        kube = KubeApiServer(fault_5xx_rate=0.5, seed=3)
        kube.start()
        try:
            kube.write_kubeconfig(tmp_path / "config", cluster_name="c", user="u", token=TOKEN)
            core = client.CoreV1Api(
                config.new_client_from_config(config_file=str(tmp_path / "config"))
            )
            statuses = []
            for _ in range(20):
                try:
                    core.list_namespace()
                    statuses.append(200)
                except client.ApiException as error:
                    statuses.append(error.status)
            return statuses
        finally:
            kube.stop()

    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 503}


def test_call_counts(server: KubeApiServer, core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.list_namespaced_pod("default")
    core.list_namespaced_pod("default", label_selector="app=nginx")
    apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
    )
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    with pytest.raises(client.ApiException):
        core.read_namespaced_pod_log("nope", "default")
    server.list("v1/pods")  # in-process calls are not API requests
    assert server.call_counts == {
        ("GET", "v1/pods"): 2,
        ("POST", "apps/v1/deployments"): 1,
        ("PATCH", "apps/v1/deployments/scale"): 1,
        ("GET", "v1/pods/log"): 1,
    }
    server.reset()
    assert server.call_counts == {}
