"""The kubelet's configMap projection: which files a container sees, and when it cannot start."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.kubelets.volumes import MissingConfigMap, projected_files


class ConfigMaps:
    """Answers ``read_namespaced_config_map`` as the apiserver would, from a dict."""

    def __init__(self, maps: dict[tuple[str, str], dict[str, Any]]) -> None:
        self._maps = maps

    def read_namespaced_config_map(self, name: str, namespace: str) -> SimpleNamespace:
        found = self._maps.get((namespace, name))
        if found is None:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=found.get("data"), binary_data=found.get("binaryData"))


def pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"volumes": volumes, "containers": [{"name": "nginx", "volumeMounts": mounts}]},
    }


SITE = {("shop", "site"): {"data": {"default.conf": "server {}", "extra.conf": "# x"}}}


def test_every_key_becomes_a_file_under_the_mount() -> None:
    files = projected_files(
        ConfigMaps(SITE),
        pod(
            [{"name": "conf", "configMap": {"name": "site"}}, {"name": "tmp", "emptyDir": {}}],
            [
                {"name": "conf", "mountPath": "/etc/nginx/conf.d"},
                {"name": "tmp", "mountPath": "/t"},
            ],
        ),
    )
    assert files == {
        "/etc/nginx/conf.d/default.conf": b"server {}",
        "/etc/nginx/conf.d/extra.conf": b"# x",
    }


def test_items_sub_paths_and_binary_data() -> None:
    maps = {**SITE, ("shop", "bin"): {"binaryData": {"logo": base64.b64encode(b"\x89P").decode()}}}
    files = projected_files(
        ConfigMaps(maps),
        pod(
            [
                {
                    "name": "conf",
                    "configMap": {
                        "name": "site",
                        "items": [{"key": "extra.conf", "path": "a.conf"}],
                    },
                },
                {"name": "bin", "configMap": {"name": "bin"}},
            ],
            [
                {"name": "conf", "mountPath": "/etc/nginx/conf.d"},
                {"name": "bin", "mountPath": "/srv/logo.png", "subPath": "logo"},
            ],
        ),
    )
    assert files == {"/etc/nginx/conf.d/a.conf": b"# x", "/srv/logo.png": b"\x89P"}


def test_a_missing_config_map_keeps_the_pod_from_starting_unless_optional() -> None:
    mounts = [{"name": "conf", "mountPath": "/etc/nginx/conf.d"}]
    with pytest.raises(MissingConfigMap, match='configmap "gone" not found'):
        projected_files(
            ConfigMaps({}), pod([{"name": "conf", "configMap": {"name": "gone"}}], mounts)
        )
    optional = [{"name": "conf", "configMap": {"name": "gone", "optional": True}}]
    assert projected_files(ConfigMaps({}), pod(optional, mounts)) == {}
    missing_key = [
        {"name": "conf", "configMap": {"name": "site", "items": [{"key": "no", "path": "n"}]}}
    ]
    with pytest.raises(MissingConfigMap, match='has no key "no"'):
        projected_files(ConfigMaps(SITE), pod(missing_key, mounts))
