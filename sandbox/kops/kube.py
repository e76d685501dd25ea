"""What the emulated kops needs from the Kubernetes API: a tiny HTTP client and the Node object.

Real kops never registers Nodes (each kubelet does, once its instance has booted). The twin has no
kubelets, so ``kops update cluster --yes`` registers one Node per instance the way a kubelet on
AWS would, NotReady, with an annotation saying when it becomes Ready (``sandbox.kops.kubelet``).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

READY_AT_ANNOTATION = "sandbox.kops-nlb-flows/ready-at"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
NODE_ROLE_LABEL = "node-role.kubernetes.io/node"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
INSTANCE_GROUP_LABEL = "kops.k8s.io/instancegroup"
RETRIES = 5
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeApiError(Exception):
    """The Kubernetes API answered with an error status or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _path(resource: str, name: str | None, namespace: str | None, subresource: str | None) -> str:
    """Return the URL path of ``v1/nodes`` or ``apps/v1/deployments`` (optionally one object)."""
    parts = resource.split("/")
    group_version, plural = "/".join(parts[:-1]), parts[-1]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{urllib.parse.quote(name, safe='')}"
    if subresource:
        path += f"/{subresource}"
    return path


class HttpKube:
    """A Kubernetes API reached over plain HTTP, with the ``list``/``patch`` shape of the twin's store."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        """Send one request; like client-go, answers 429/5xx are tried again a few times."""
        for attempt in range(RETRIES):
            try:
                return self._send(method, path, body, content_type)
            except KubeApiError as exc:
                if exc.status not in RETRIED_STATUSES or attempt == RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: Any, content_type: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise KubeApiError(f"{method} {path}: {exc.code} {detail}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KubeApiError(f'{method} "{self.base_url}{path}": {reason}') from exc
        return json.loads(payload) if payload else None

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Return every object of a resource (in one namespace, or all)."""
        path = _path(resource, None, namespace, None)
        if label_selector:
            path += "?" + urllib.parse.urlencode({"labelSelector": label_selector})
        result = self._request("GET", path) or {}
        return list(result.get("items") or [])

    def create(
        self, resource: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create an object and return it as stored."""
        result: dict[str, Any] = self._request("POST", _path(resource, None, namespace, None), body)
        return result

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch an object (or its subresource) and return it."""
        result: dict[str, Any] = self._request(
            "PATCH",
            _path(resource, name, namespace, subresource),
            patch,
            content_type="application/merge-patch+json",
        )
        return result

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Delete an object; an absent one is not an error."""
        try:
            self._request("DELETE", _path(resource, name, namespace, None))
        except KubeApiError as exc:
            if exc.status != 404:
                raise


def node_object(
    *,
    instance: dict[str, Any],
    instance_group: str,
    control_plane: bool,
    region: str,
    ready_at: float,
) -> dict[str, Any]:
    """Return the Node a kubelet on this EC2 instance registers (metadata and spec).

    The ``READY_AT_ANNOTATION`` says when (epoch seconds) the twin's kubelet turns it Ready.
    """
    name = instance["PrivateDnsName"]
    zone = instance["Placement"]["AvailabilityZone"]
    instance_type = instance["InstanceType"]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        INSTANCE_GROUP_LABEL: instance_group,
    }
    taints = []
    if control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
        labels[EXCLUDE_LB_LABEL] = ""
        labels["kops.k8s.io/kops-controller-pki"] = ""
        taints.append({"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"})
    else:
        labels[NODE_ROLE_LABEL] = ""
    spec: dict[str, Any] = {"providerID": f"aws:///{zone}/{instance['InstanceId']}"}
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                READY_AT_ANNOTATION: f"{ready_at:.3f}",
            },
        },
        "spec": spec,
    }


def node_status(
    *, instance: dict[str, Any], kubernetes_version: str, ready: bool, now: float | None = None
) -> dict[str, Any]:
    """Return a Node's status: addresses from the instance and a Ready condition."""
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time()))
    name = instance["PrivateDnsName"]
    version = kubernetes_version if kubernetes_version.startswith("v") else f"v{kubernetes_version}"
    return {
        "addresses": [
            {"type": "InternalIP", "address": instance["PrivateIpAddress"]},
            {"type": "Hostname", "address": name},
            {"type": "InternalDNS", "address": name},
        ],
        "conditions": [ready_condition(ready, moment)],
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"boot/{instance['InstanceId']}")),
            "containerRuntimeVersion": "containerd://1.7.28",
            "kernelVersion": "6.8.0-1036-aws",
            "kubeProxyVersion": "",
            "kubeletVersion": version,
            "machineID": uuid.uuid5(uuid.NAMESPACE_URL, instance["InstanceId"]).hex,
            "operatingSystem": "linux",
            "osImage": "Ubuntu 24.04.3 LTS",
            "systemUUID": "ec2" + uuid.uuid5(uuid.NAMESPACE_URL, instance["InstanceId"]).hex[3:],
        },
    }


def ready_condition(ready: bool, moment: str) -> dict[str, str]:
    """Return a Node's Ready condition as a kubelet reports it."""
    if ready:
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": moment,
            "lastTransitionTime": moment,
        }
    return {
        "type": "Ready",
        "status": "False",
        "reason": "KubeletNotReady",
        "message": "container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        "lastHeartbeatTime": moment,
        "lastTransitionTime": moment,
    }


def is_ready(node: dict[str, Any]) -> bool:
    """Whether a Node's Ready condition is True."""
    return node_ready_status(node) == "True"


def node_ready_status(node: dict[str, Any]) -> str:
    """Return the status of a Node's Ready condition ("True", "False" or "Unknown")."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status") or "Unknown")
    return "Unknown"


def instance_id_of(node: dict[str, Any]) -> str | None:
    """Return the EC2 instance id in a Node's providerID, else None."""
    provider = (node.get("spec") or {}).get("providerID") or ""
    last = provider.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None
