"""Kubernetes: the namespace, nginx Deployment and Service; nodes, pods and their logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_nlb.core.waiting import Observation
from kops_nlb.core.workload import (
    NodeInfo,
    PodInfo,
    ServiceInfo,
    instance_id_from_provider_id,
    rollout_observation,
)
from kops_nlb.kube.client import apps_v1, as_dict, core_v1, is_not_found


def _or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except ApiException as exc:
        if is_not_found(exc):
            return None
        raise


def namespace_exists(api: client.ApiClient, name: str) -> bool:
    """Tell whether the namespace exists."""
    return _or_none(lambda: core_v1(api).read_namespace(name)) is not None


def create_namespace(api: client.ApiClient, name: str) -> None:
    """Create the namespace."""
    core_v1(api).create_namespace({"metadata": {"name": name}})


def read_deployment(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """Return the Deployment as the API server sent it, or None."""
    found = _or_none(lambda: apps_v1(api).read_namespaced_deployment(name, namespace))
    return None if found is None else as_dict(api, found)


def create_deployment(api: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> None:
    """Create a Deployment."""
    apps_v1(api).create_namespaced_deployment(namespace, manifest)


def patch_deployment(
    api: client.ApiClient, namespace: str, name: str, patch: dict[str, Any]
) -> None:
    """Apply a merge patch to a Deployment."""
    apps_v1(api).patch_namespaced_deployment(name, namespace, patch)


def read_config_map(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """Return the ConfigMap as the API server sent it, or None."""
    found = _or_none(lambda: core_v1(api).read_namespaced_config_map(name, namespace))
    return None if found is None else as_dict(api, found)


def create_config_map(api: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> None:
    """Create a ConfigMap."""
    core_v1(api).create_namespaced_config_map(namespace, manifest)


def patch_config_map(
    api: client.ApiClient, namespace: str, name: str, patch: dict[str, Any]
) -> None:
    """Apply a merge patch to a ConfigMap."""
    core_v1(api).patch_namespaced_config_map(name, namespace, patch)


def delete_config_map(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete a ConfigMap; False when it was not there."""
    return _deleted(lambda: core_v1(api).delete_namespaced_config_map(name, namespace))


def read_service(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """Return the Service as the API server sent it, or None."""
    found = _or_none(lambda: core_v1(api).read_namespaced_service(name, namespace))
    return None if found is None else as_dict(api, found)


def create_service(api: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> None:
    """Create a Service."""
    core_v1(api).create_namespaced_service(namespace, manifest)


def patch_service(api: client.ApiClient, namespace: str, name: str, patch: dict[str, Any]) -> None:
    """Apply a merge patch to a Service."""
    core_v1(api).patch_namespaced_service(name, namespace, patch)


def rollout(api: client.ApiClient, namespace: str, name: str) -> Observation[int]:
    """Look at a Deployment's rollout once."""
    dep = apps_v1(api).read_namespaced_deployment(name, namespace)
    status = dep.status
    return rollout_observation(
        wanted=dep.spec.replicas or 0,
        ready=status.ready_replicas or 0,
        updated=status.updated_replicas or 0,
        observed_generation=status.observed_generation or 0,
        generation=dep.metadata.generation or 0,
        replicas=status.replicas or 0,
    )


def _pod_info(pod: Any) -> PodInfo:
    conditions = pod.status.conditions or []
    return PodInfo(
        name=pod.metadata.name,
        node=pod.spec.node_name,
        pod_ip=pod.status.pod_ip,
        host_ip=pod.status.host_ip,
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
    )


def list_pods(api: client.ApiClient, namespace: str, labels: dict[str, str]) -> list[PodInfo]:
    """Return the pods with these labels that are not being deleted, by name."""
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    pods = core_v1(api).list_namespaced_pod(namespace, label_selector=selector).items
    return sorted(
        (_pod_info(p) for p in pods if not p.metadata.deletion_timestamp), key=lambda p: p.name
    )


def node_info(node: Any) -> NodeInfo:
    """Return what the procedure needs of a Node (the client's model)."""
    labels = node.metadata.labels or {}
    status = node.status
    addresses = {a.type: a.address for a in (status.addresses if status else None) or []}
    conditions = (status.conditions if status else None) or []
    return NodeInfo(
        name=node.metadata.name,
        instance_id=instance_id_from_provider_id(node.spec.provider_id if node.spec else None),
        internal_ip=addresses.get("InternalIP"),
        zone=labels.get("topology.kubernetes.io/zone"),
        control_plane="node-role.kubernetes.io/control-plane" in labels,
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        heartbeat_at=next((c.last_heartbeat_time for c in conditions if c.type == "Ready"), None),
    )


def list_nodes(api: client.ApiClient) -> list[NodeInfo]:
    """Return the cluster's nodes with their EC2 instance ids, by name."""
    return sorted((node_info(n) for n in core_v1(api).list_node().items), key=lambda n: n.name)


def service_info_of(svc: Any) -> ServiceInfo:
    """Return what the procedure needs of a Service (the client's model)."""
    balancer = svc.status.load_balancer if svc.status else None
    ingress = (balancer.ingress or []) if balancer else []
    return ServiceInfo(
        uid=svc.metadata.uid,
        hostname=ingress[0].hostname if ingress else None,
        external_traffic_policy=svc.spec.external_traffic_policy,
        health_check_node_port=svc.spec.health_check_node_port,
        annotations=dict(svc.metadata.annotations or {}),
        type=svc.spec.type,
    )


def service_info(api: client.ApiClient, namespace: str, name: str) -> ServiceInfo:
    """Return what the Service looks like now."""
    return service_info_of(core_v1(api).read_namespaced_service(name, namespace))


def service_gone(api: client.ApiClient, namespace: str, name: str) -> Observation[None]:
    """Look once whether the Service is gone; its finalizers otherwise."""
    svc = _or_none(lambda: core_v1(api).read_namespaced_service(name, namespace))
    if svc is None:
        return Observation(ready=True)
    finalizers = svc.metadata.finalizers or []
    return Observation(ready=False, failing=(f"finalizers {finalizers} still set",))


def _deleted(delete: Callable[[], Any]) -> bool:
    try:
        delete()
    except ApiException as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def delete_service(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete the Service; False when it was not there."""
    return _deleted(lambda: core_v1(api).delete_namespaced_service(name, namespace))


def delete_deployment(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete the Deployment; False when it was not there."""
    return _deleted(lambda: apps_v1(api).delete_namespaced_deployment(name, namespace))


def delete_namespace(api: client.ApiClient, name: str) -> bool:
    """Delete the namespace; False when it was not there."""
    return _deleted(lambda: core_v1(api).delete_namespace(name))


def read_pod_log(
    api: client.ApiClient, namespace: str, pod: str, *, container: str, since_seconds: int
) -> str:
    """Return the container's log of the last `since_seconds` seconds."""
    text = core_v1(api).read_namespaced_pod_log(
        pod, namespace, since_seconds=since_seconds, container=container
    )
    return str(text or "")


LOG_CHUNK_BYTES = 256 * 1024


def stream_pod_log(
    api: client.ApiClient, namespace: str, pod: str, *, container: str, since_seconds: int
) -> Iterator[bytes]:
    """Yield the container's log of the last `since_seconds` seconds as it arrives, in chunks."""
    response = core_v1(api).read_namespaced_pod_log(
        pod, namespace, since_seconds=since_seconds, container=container, _preload_content=False
    )
    try:
        yield from response.stream(LOG_CHUNK_BYTES)
    finally:
        response.release_conn()


def delete_pod(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete one pod (its controller makes a new one); False when it was not there."""
    return _deleted(lambda: core_v1(api).delete_namespaced_pod(name, namespace))
