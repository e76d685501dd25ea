"""Kubernetes: the in-cluster probe's Jobs and their pods."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_nlb.kube.client import as_dict, core_v1


def _batch_v1(api: client.ApiClient) -> Any:
    return client.BatchV1Api(api)


def create_job_unless_present(
    api: client.ApiClient, namespace: str, manifest: dict[str, Any]
) -> bool:
    """Create the Job; False when one of that name is already there (a retried step)."""
    try:
        _batch_v1(api).create_namespaced_job(namespace, manifest)
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


def list_jobs(api: client.ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Return the Jobs matching a label selector, as the API server sent them."""
    found = _batch_v1(api).list_namespaced_job(namespace, label_selector=selector)
    return [as_dict(api, job) for job in found.items]


def list_pods(api: client.ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Return the pods matching a label selector, as the API server sent them."""
    found = core_v1(api).list_namespaced_pod(namespace, label_selector=selector)
    return [as_dict(api, pod) for pod in found.items]


def container_log(api: client.ApiClient, namespace: str, pod: str, container: str) -> str:
    """Return a container's whole log ("" when the kubelet has none)."""
    try:
        text = core_v1(api).read_namespaced_pod_log(pod, namespace, container=container)
    except ApiException as exc:
        if exc.status in (400, 404):  # not started, or gone
            return ""
        raise
    return str(text or "")


def delete_jobs_and_pods(api: client.ApiClient, namespace: str, selector: str) -> None:
    """Delete the Jobs matching a selector and their pods (the pods at once, not by the
    garbage collector later)."""
    _batch_v1(api).delete_collection_namespaced_job(
        namespace, label_selector=selector, propagation_policy="Background"
    )
    core_v1(api).delete_collection_namespaced_pod(
        namespace, label_selector=selector, grace_period_seconds=0
    )
