"""A kube-apiserver twin for the whole directory, reached through the official client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_support import TOKEN, RecordingRuntime, deployment_body, eventually, node_body
from kubernetes import client, config

from sandbox.k8s import KubeApiServer


@pytest.fixture(scope="session")
def runtime() -> RecordingRuntime:
    return RecordingRuntime()


@pytest.fixture(scope="session")
def server(runtime: RecordingRuntime) -> Iterator[KubeApiServer]:
    kube = KubeApiServer(pod_runtime=runtime, seed=7)
    kube.start()
    yield kube
    kube.stop()


@pytest.fixture(scope="session")
def kubeconfig(server: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    server.write_kubeconfig(path, cluster_name="twin.k8s.local", user="admin", token=TOKEN)
    return path


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset the shared server and runtime before each test that uses them."""
    if "server" in request.fixturenames:
        request.getfixturevalue("server").reset()
        request.getfixturevalue("runtime").reset()
    yield


@pytest.fixture
def wait() -> Callable[..., Any]:
    return eventually


@pytest.fixture
def add_node(server: KubeApiServer) -> Callable[..., dict[str, Any]]:
    def add(name: str, ip: str, **kwargs: Any) -> dict[str, Any]:
        return server.create("v1/nodes", node_body(name, ip, **kwargs))

    return add


@pytest.fixture
def deployment() -> Callable[..., dict[str, Any]]:
    return deployment_body
