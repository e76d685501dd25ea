"""The kubelet's configMap volumes: the files a pod's container sees under its mount paths.

Before it starts a container the kubelet reads each ConfigMap the pod mounts from the
apiserver and projects it: every key (or the volume's ``items``) becomes a file under the
mount's path, a ``subPath`` mount puts one key at the path itself. A ConfigMap that does not
exist keeps the pod from starting (the kubelet's ``FailedMount``) unless the volume is
``optional``. Only the first container is read: the twin's pods run one nginx each.
"""

from __future__ import annotations

import base64
import posixpath
from typing import Any

from kubernetes.client.exceptions import ApiException


class MissingConfigMap(Exception):
    """A pod mounts a ConfigMap (or a key) that does not exist: it cannot start yet."""


def projected_files(core: Any, pod: dict[str, Any]) -> dict[str, bytes]:
    """Return the container's configMap files as ``{absolute path: content}``.

    ``core`` is a ``CoreV1Api`` of the pod's cluster; ``pod`` the pod as the API serves it.
    Raises MissingConfigMap when a required ConfigMap or key is missing.
    """
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    sources = {v["name"]: v["configMap"] for v in spec.get("volumes") or [] if "configMap" in v}
    containers = spec.get("containers") or [{}]
    files: dict[str, bytes] = {}
    for mount in containers[0].get("volumeMounts") or []:
        source = sources.get(mount.get("name"))
        if source is None:
            continue
        data = _config_map_data(core, namespace, source)
        if data is None:
            continue
        if mount.get("subPath"):
            files[mount["mountPath"]] = _key(data, mount["subPath"], source)
            continue
        items = source.get("items") or [{"key": key, "path": key} for key in sorted(data)]
        for item in items:
            path = posixpath.join(mount["mountPath"], item["path"])
            files[path] = _key(data, item["key"], source)
    return files


def _config_map_data(core: Any, namespace: str, source: dict[str, Any]) -> dict[str, bytes] | None:
    try:
        config_map = core.read_namespaced_config_map(source["name"], namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        if source.get("optional"):
            return None
        raise MissingConfigMap(f'configmap "{source["name"]}" not found') from None
    data = {key: value.encode() for key, value in (config_map.data or {}).items()}
    for key, value in (config_map.binary_data or {}).items():
        data[key] = base64.b64decode(value)
    return data


def _key(data: dict[str, bytes], key: str, source: dict[str, Any]) -> bytes:
    if key not in data:
        raise MissingConfigMap(f'configmap "{source["name"]}" has no key "{key}"')
    return data[key]
