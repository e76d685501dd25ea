"""The kube-apiserver twin's errors render as real ``v1 Status`` bodies."""

from __future__ import annotations

from sandbox.k8s.exceptions import not_found


def test_status_bodies_have_the_real_shape() -> None:
    status = not_found("deployments", "apps", "nginx").to_status()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nginx" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nginx", "kind": "deployments", "group": "apps"},
    }
    assert not_found("pods", "", "p").message == 'pods "p" not found'
