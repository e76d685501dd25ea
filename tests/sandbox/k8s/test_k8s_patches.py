"""PATCH bodies of the kube-apiserver twin: merge, strategic (as merge) and JSON patch."""

from __future__ import annotations

import pytest

from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.patches import apply_patch


@pytest.mark.parametrize(
    ("patch", "patch_type", "expected"),
    [
        ({"spec": {"replicas": 3}}, "merge", {"spec": {"replicas": 3, "ports": [1, 2]}, "x": 1}),
        ({"x": None}, "merge", {"spec": {"replicas": 1, "ports": [1, 2]}}),
        ({"spec": {"ports": [3]}}, "strategic", {"spec": {"replicas": 1, "ports": [3]}, "x": 1}),
        (
            {"$setElementOrder/ports": [], "spec": {"$retainKeys": ["a"], "replicas": 2}},
            "strategic",
            {"spec": {"replicas": 2, "ports": [1, 2]}, "x": 1},
        ),
        (
            [
                {"op": "replace", "path": "/spec/replicas", "value": 4},
                {"op": "remove", "path": "/x"},
            ],
            "json",
            {"spec": {"replicas": 4, "ports": [1, 2]}},
        ),
    ],
)
def test_apply_patch(patch: object, patch_type: str, expected: dict[str, object]) -> None:
    doc = {"spec": {"replicas": 1, "ports": [1, 2]}, "x": 1}
    assert apply_patch(doc, patch, patch_type) == expected
    assert doc == {"spec": {"replicas": 1, "ports": [1, 2]}, "x": 1}


def test_failing_json_patch_is_invalid() -> None:
    with pytest.raises(KubeApiError) as caught:
        apply_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}], "json")
    assert caught.value.code == 422
