"""The in-process API the twin's other parts use to reach the kube-apiserver twin."""

from __future__ import annotations

import pytest

from sandbox.k8s import KubeApiError, KubeApiServer


def test_in_process_api(server: KubeApiServer) -> None:
    node = server.create("v1/nodes", {"metadata": {"name": "n1", "labels": {"role": "worker"}},
                                      "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    assert node["status"]["conditions"][0]["status"] == "True"
    flipped = server.patch(
        "v1/nodes", "n1", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        subresource="status",
    )  # fmt: skip
    assert flipped["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert server.get("v1/nodes", "n1")["status"]["conditions"][0]["status"] == "False"  # type: ignore[index]
    assert [
        n["metadata"]["name"] for n in server.list("v1/nodes", label_selector="role=worker")
    ] == ["n1"]
    assert server.get("v1/nodes", "nope") is None
    with pytest.raises(KubeApiError) as caught:
        server.create("v1/nodes", {"metadata": {"name": "n1"}})
    assert caught.value.code == 409
    with pytest.raises(KubeApiError) as caught:
        server.delete("v1/nodes", "nope")
    assert caught.value.code == 404
    server.delete("v1/nodes", "n1")
    assert server.list("v1/nodes") == []
    # kmock's store and pattern assertions see the same objects.
    server.create("v1/configmaps", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    assert server.handler.objects["v1/configmaps", "default", "cm"] >= {"data": {"k": "v"}}
