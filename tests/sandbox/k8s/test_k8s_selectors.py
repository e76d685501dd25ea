"""Label and field selectors of the kube-apiserver twin: matching and syntax errors."""

from __future__ import annotations

import pytest

from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.selectors import parse_field_selector, parse_label_selector

LABELS = {"app": "nginx", "tier": "web", "rank": "5", "example.com/team": "net"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=nginx", True),
        ("app==nginx", True),
        ("app=apache", False),
        ("app!=apache", True),
        ("app!=nginx", False),
        ("missing!=x", True),
        ("tier in (web, db)", True),
        ("tier in (db)", False),
        ("tier notin (db,cache)", True),
        ("tier notin (web)", False),
        ("missing notin (web)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("rank>3", True),
        ("rank<3", False),
        ("example.com/team=net", True),
        ("app=nginx,tier in (a,b)", False),
        ("app=nginx, tier in (a,web) ,!canary", True),
        ("app=", False),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    ["app=nginx,", "tier in web", "tier in (a", "=x", "app=bad value", "rank>x", "Bad Key=1"],
)
def test_label_selector_syntax_errors_are_bad_requests(selector: str) -> None:
    with pytest.raises(KubeApiError) as caught:
        parse_label_selector(selector)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


def test_field_selector() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "hostNetwork": False}}
    supported = frozenset({"metadata.name", "spec.nodeName", "spec.hostNetwork", "status.phase"})
    assert parse_field_selector("spec.nodeName=n1", supported).matches(pod)
    assert parse_field_selector("spec.nodeName==n1,metadata.name!=q", supported).matches(pod)
    assert not parse_field_selector("spec.nodeName=n2", supported).matches(pod)
    assert parse_field_selector("spec.hostNetwork=false", supported).matches(pod)
    assert parse_field_selector("status.phase=", supported).matches(pod)
    with pytest.raises(KubeApiError) as caught:
        parse_field_selector("spec.unknown=1", supported)
    assert caught.value.code == 400
    assert '"spec.unknown" is not a known field selector' in caught.value.message
