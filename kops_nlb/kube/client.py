"""Kubernetes API clients built from a kubeconfig path, and small read helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

# Beside each kubeconfig: where the client keeps the files TLS needs of it.
CLIENT_FILES_DIR = ".client-files"


def kube_api(kubeconfig: str, *, retry_connections: bool = True) -> client.ApiClient:
    """Return an API client for the cluster of a kubeconfig file.

    Without `retry_connections`, a request whose connection fails raises at once, where
    urllib3 would send it three more times with a warning each: for a wait that retries on its
    own while the API is not up yet.

    TLS reads the kubeconfig's inline CA, certificate and key from files, which the client
    writes out and removes when the process exits. They go to a private folder beside the
    kubeconfig, which holds the same key, instead of the shared temporary directory, where a
    process killed before its exit would leave a copy of the key.
    """
    files = Path(kubeconfig).parent / CLIENT_FILES_DIR
    files.mkdir(mode=0o700, exist_ok=True)
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=kubeconfig,
        client_configuration=configuration,
        temp_file_path=str(files),
    )
    if not retry_connections:
        configuration.retries = 0
    return client.ApiClient(configuration=configuration)


# The typed client models mark every field Optional; the project reads the few fields it needs
# defensively instead, so the API groups are handed out untyped.
def core_v1(api: client.ApiClient) -> Any:
    """Return the core/v1 API group."""
    return client.CoreV1Api(api)


def apps_v1(api: client.ApiClient) -> Any:
    """Return the apps/v1 API group."""
    return client.AppsV1Api(api)


def as_dict(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    """Turn a client model into the plain dict the API server sent."""
    result: dict[str, Any] = api.sanitize_for_serialization(obj)
    return result


def is_not_found(exc: BaseException) -> bool:
    """Tell whether an API error is a 404."""
    return isinstance(exc, ApiException) and exc.status == 404
