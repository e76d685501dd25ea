"""Decisions of the Kubernetes steps as tables: the object as read in, patch and diff out."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kops_nlb.core.manifests import nginx_deployment, nlb_service
from kops_nlb.core.naming import NLB_INTERNAL_ANNOTATION
from kops_nlb.core.plan_kube import decide_deployment, decide_namespace, decide_service, nlb_item
from kops_nlb.core.spec import EnvironmentSpec


def edited(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of `obj` with the dotted `path` set to `value` (None deletes it)."""
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    here = out
    for key in parents:
        here = here[int(key)] if isinstance(here, list) else here[key]
    if value is None:
        here.pop(last, None)
    else:
        here[last] = value
    return out


@pytest.mark.parametrize(("exists", "expected"), [(True, "exists"), (False, "will create")])
def test_namespace(spec: EnvironmentSpec, exists: bool, expected: str) -> None:
    decision = decide_namespace(spec, exists=exists)
    assert (decision.item.status, decision.create) == (expected, not exists)


WANTED_SPREAD = "zone required per revision, node preferred per revision"

# INPUT: the Deployment as read (an edit of the wanted one); OUTPUT: status and the diff
DEPLOYMENT = [
    pytest.param(
        None, ("will create", ["image: (none) → nginx:1.27", "replicas: (none) → 2"]), id="absent"
    ),
    pytest.param(("spec.replicas", 2), ("exists", []), id="as-wanted"),
    pytest.param(("spec.replicas", 5), ("will change", ["replicas: 5 → 2"]), id="scaled"),
    pytest.param(
        ("spec.template.spec.containers.0.image", "nginx:1.25"),
        ("will change", ["image: nginx:1.25 → nginx:1.27"]),
        id="image",
    ),
    pytest.param(
        ("spec.template.spec.containers.0.ports", [{"containerPort": 8080}]),
        ("will change", ["container ports: [8080] → [80]"]),
        id="port",
    ),
    pytest.param(
        (
            "spec.template.spec.topologySpreadConstraints",
            [{"topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}],
        ),
        (
            "will change",
            ["pod spread: node preferred → " + WANTED_SPREAD],
        ),
        id="spread",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), DEPLOYMENT)
def test_deployment(
    spec: EnvironmentSpec, edit: tuple[str, Any] | None, expected: tuple[str, list[str]]
) -> None:
    existing = None if edit is None else edited(nginx_deployment(spec), *edit)

    decision = decide_deployment(spec, existing)

    assert decision.item.status == expected[0]
    assert [f"{c.field}: {c.current} → {c.wanted}" for c in decision.item.changes] == expected[1]
    assert (decision.manifest is not None) == (existing is None)
    assert (decision.patch is not None) == (expected[0] == "will change")


# INPUT: the Service as read (an edit of the wanted one); OUTPUT: status and the diff
SERVICE = [
    pytest.param(("spec.type", "LoadBalancer"), ("exists", []), id="as-wanted"),
    pytest.param(
        ("spec.externalTrafficPolicy", "Cluster"),
        ("will change", ["spec.externalTrafficPolicy: Cluster → Local"]),
        id="cluster-policy",
    ),
    pytest.param(
        (f"metadata.annotations.{NLB_INTERNAL_ANNOTATION}", None),
        ("will change", [f"annotation {NLB_INTERNAL_ANNOTATION}: (none) → true"]),
        id="internal-annotation-removed",
    ),
    pytest.param(
        ("spec.type", "NodePort"),
        ("will change", ["spec.type: NodePort → LoadBalancer"]),
        id="type",
    ),
    pytest.param(
        ("spec.ports", [{"port": 8080, "targetPort": 80, "protocol": "TCP"}]),
        ("will change", ["spec.ports: 8080→80/TCP → 80→80/TCP"]),
        id="port",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), SERVICE)
def test_service(
    spec: EnvironmentSpec, edit: tuple[str, Any], expected: tuple[str, list[str]]
) -> None:
    service = nlb_service(spec)
    annotations = service["metadata"]["annotations"]
    if edit[0].startswith("metadata.annotations."):  # keys hold dots: edit them directly
        annotations.pop(edit[0].removeprefix("metadata.annotations."))
        existing = service
    else:
        existing = edited(service, *edit)

    decision = decide_service(spec, existing)

    assert decision.item.status == expected[0]
    assert [f"{c.field}: {c.current} → {c.wanted}" for c in decision.item.changes] == expected[1]


def test_absent_service_is_created_with_its_policy_and_annotations(spec: EnvironmentSpec) -> None:
    decision = decide_service(spec, None)

    assert decision.manifest == nlb_service(spec)
    fields = [c.field for c in decision.item.changes]
    assert "spec.externalTrafficPolicy" in fields
    assert f"annotation {NLB_INTERNAL_ANNOTATION}" in fields


@pytest.mark.parametrize(
    ("name", "expected"), [(None, "will create"), ("a1b2", "exists")], ids=["absent", "found"]
)
def test_nlb(spec: EnvironmentSpec, name: str | None, expected: str) -> None:
    assert nlb_item(spec, name=name, dns_name="x.elb").status == expected
