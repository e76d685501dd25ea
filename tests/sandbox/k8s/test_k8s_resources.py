"""Request paths of the kube-apiserver twin split into their Kubernetes parts."""

from __future__ import annotations

import pytest

from sandbox.k8s.resources import ApiPath, parse_path


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
