"""The Service's NLB as tables: which load balancer is it, when is it active, when are targets healthy."""

from __future__ import annotations

from typing import Any

import pytest

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.nlb import (
    TargetGroupSettings,
    is_service_nlb,
    same_hostname,
    target_group_settings_observation,
    to_nlb_info,
)
from kops_nlb.core.sequences import chunks
from tasks.nlb import (
    NlbInfo,
    TargetHealth,
    eni_description,
    nlb_name_for_service_uid,
    nlb_observation,
    targets_observation,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")

UID = "3f1c6d2a-7b8e-4f6a-9c0d-1e2f3a4b5c6d"
NAME = "a3f1c6d2a7b8e4f6a9c0d1e2f3a4b5c6"
CLUSTER = "nlb-demo.k8s.local"
SERVICE_TAGS = {
    "kubernetes.io/service-name": "default/nginx",
    f"kubernetes.io/cluster/{CLUSTER}": "owned",
}


# ---- pure decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "name"),
    [(UID, NAME), ("1234-abcd", "a1234abcd"), ("", "a")],
    ids=["uuid-cut-to-32", "short", "empty"],
)
def test_nlb_name_for_service_uid(uid: str, name: str) -> None:
    assert nlb_name_for_service_uid(uid) == name
    assert len(nlb_name_for_service_uid(uid)) <= 32


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("x.elb.amazonaws.com", "X.ELB.amazonaws.com.", True),
        ("x.elb.amazonaws.com", "y.elb.amazonaws.com", False),
        ("", "", False),
        (None, "x", False),
    ],
    ids=["case-and-dot", "different", "empty", "none"],
)
def test_same_hostname(a: str | None, b: str | None, same: bool) -> None:
    assert same_hostname(a, b) is same


LB = {"DNSName": "a3f1-123.elb.ap-northeast-1.amazonaws.com"}


@pytest.mark.parametrize(
    ("tags", "hostname", "match"),
    [
        (SERVICE_TAGS, LB["DNSName"], True),
        (SERVICE_TAGS, None, True),
        (SERVICE_TAGS, "other.elb.amazonaws.com", False),
        ({**SERVICE_TAGS, "kubernetes.io/service-name": "default/other"}, None, False),
        ({"kubernetes.io/service-name": "default/nginx"}, None, False),
        ({}, None, False),
        ({"service.k8s.aws/stack": "default/nginx", "elbv2.k8s.aws/cluster": CLUSTER}, None, True),
        ({"service.k8s.aws/stack": "default/nginx", "elbv2.k8s.aws/cluster": "other"}, None, False),
    ],
    ids=[
        "tags-and-dns",
        "no-hostname-yet",
        "dns-differs",
        "other-service",
        "other-cluster",
        "untagged",
        "load-balancer-controller",
        "load-balancer-controller-other-cluster",
    ],
)
def test_is_service_nlb(tags: dict[str, str], hostname: str | None, match: bool) -> None:
    assert (
        is_service_nlb(LB, tags, service="default/nginx", cluster_name=CLUSTER, hostname=hostname)
        is match
    )


def info(**overrides: Any) -> NlbInfo:
    values: dict[str, Any] = {
        "arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/n/0123",
        "name": NAME,
        "dns_name": LB["DNSName"],
        "scheme": "internal",
        "type": "network",
        "state": "active",
        "vpc_id": "vpc-1",
        "zones": ("ap-northeast-1a", "ap-northeast-1c"),
    }
    return NlbInfo(**{**values, **overrides})


def test_to_nlb_info() -> None:
    described = {
        "LoadBalancerArn": info().arn,
        "LoadBalancerName": NAME,
        "DNSName": LB["DNSName"],
        "Scheme": "internal",
        "Type": "network",
        "State": {"Code": "active"},
        "VpcId": "vpc-1",
        "AvailabilityZones": [{"ZoneName": "ap-northeast-1c"}, {"ZoneName": "ap-northeast-1a"}],
    }
    assert to_nlb_info(described) == info()


@pytest.mark.parametrize(
    ("found", "internal", "ready", "failing"),
    [
        (None, True, False, (f"no NLB {NAME} for the Service yet",)),
        (info(state="provisioning"), True, False, (f"NLB {NAME} state provisioning",)),
        (info(), True, True, ()),
        (info(scheme="internet-facing"), False, True, ()),
    ],
    ids=["absent", "provisioning", "active-internal", "active-internet-facing"],
)
def test_nlb_observation(
    found: NlbInfo | None, internal: bool, ready: bool, failing: tuple[str, ...]
) -> None:
    observation = nlb_observation(found, expected_name=NAME, internal=internal)
    assert (observation.ready, observation.failing) == (ready, failing)


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (info(type="application"), "type application, not network"),
        (info(scheme="internet-facing"), "is internet-facing, the spec asks for internal"),
        (info(state="failed"), "in state failed"),
    ],
    ids=["alb", "wrong-scheme", "failed"],
)
def test_nlb_that_can_never_be_right_fails_at_once(found: NlbInfo, message: str) -> None:
    with pytest.raises(ConflictError, match=message):
        nlb_observation(found, expected_name=NAME, internal=True)


def target(
    instance_id: str, state: str, port: int = 30080, reason: str | None = None, group: str = "tg"
) -> TargetHealth:
    return TargetHealth(
        target_group=group, instance_id=instance_id, port=port, state=state, reason=reason
    )


@pytest.mark.parametrize(
    ("health", "wanted", "ready", "failing", "done"),
    [
        ([], ["i-1"], False, ("no targets registered yet",), None),
        ([target("i-1", "healthy"), target("i-2", "unhealthy")], ["i-1"], True, (), 1),
        (
            [
                target("i-1", "initial", reason="Elb.RegistrationInProgress"),
                target("i-2", "healthy"),
            ],
            ["i-1", "i-2"],
            False,
            ("i-1:30080 initial (Elb.RegistrationInProgress)",),
            1,
        ),
        ([target("i-2", "healthy")], ["i-1"], False, ("i-1 not registered",), 0),
        (
            [
                target("i-1", "healthy", group="tg-80"),
                target("i-1", "unhealthy", port=30443, group="tg-443"),
            ],
            ["i-1"],
            False,
            ("i-1:30443 unhealthy",),
            0,
        ),
    ],
    ids=[
        "none-yet",
        "other-node-unhealthy-is-fine",
        "one-initial",
        "not-registered",
        "one-port-unhealthy",
    ],
)
def test_targets_observation(
    health: list[TargetHealth],
    wanted: list[str],
    ready: bool,
    failing: tuple[str, ...],
    done: int | None,
) -> None:
    observation = targets_observation(health, wanted)
    assert (observation.ready, observation.failing, observation.done) == (ready, failing, done)


@pytest.mark.parametrize(
    ("arn", "description"),
    [
        (
            "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/a3f1/50dc6c495c0c9188",
            "ELB net/a3f1/50dc6c495c0c9188",
        ),
        ("arn:aws-cn:elasticloadbalancing:cn-north-1:1:loadbalancer/net/n/1", "ELB net/n/1"),
    ],
    ids=["aws", "china-partition"],
)
def test_eni_description(arn: str, description: str) -> None:
    assert eni_description(arn) == description


def test_eni_description_rejects_other_arns() -> None:
    with pytest.raises(ValueError, match="not a load balancer ARN"):
        eni_description("arn:aws:elasticloadbalancing:r:1:targetgroup/tg/1")


def test_chunks() -> None:
    assert [list(c) for c in chunks(list(range(45)), 20)] == [
        list(range(20)),
        list(range(20, 40)),
        list(range(40, 45)),
    ]


# ---- moto -------------------------------------------------------------------------------


# ---- exact requests ---------------------------------------------------------------------


def settings(name: str, *, preserve: bool | None, proxy: bool = False) -> TargetGroupSettings:
    return TargetGroupSettings(
        name=name,
        target_type="ip",
        protocol="TCP",
        preserve_client_ip=preserve,
        proxy_protocol_v2=proxy,
    )


def test_target_group_settings_wait_until_the_asked_preservation_is_applied() -> None:
    groups = [settings("k8s-a", preserve=False), settings("k8s-b", preserve=True)]
    seen = target_group_settings_observation(
        groups, preserve_client_ip=True, proxy_protocol_v2=False
    )
    assert not seen.ready
    assert seen.failing == ("k8s-a: preserve_client_ip.enabled is False, the spec asks for True",)
    assert (seen.done, seen.total) == (1, 2)
    applied = [settings("k8s-a", preserve=True), settings("k8s-b", preserve=True)]
    assert target_group_settings_observation(
        applied, preserve_client_ip=True, proxy_protocol_v2=False
    ).ready


def test_target_group_settings_wait_only_for_what_the_spec_asks() -> None:
    # A removed annotation leaves the last value behind: waiting for a default would never end.
    left_over = [settings("k8s-a", preserve=False, proxy=True)]
    assert target_group_settings_observation(
        left_over, preserve_client_ip=None, proxy_protocol_v2=False
    ).ready
    no_proxy_yet = target_group_settings_observation(
        [settings("k8s-a", preserve=None)], preserve_client_ip=None, proxy_protocol_v2=True
    )
    assert no_proxy_yet.failing == ("k8s-a: proxy_protocol_v2.enabled is not on yet",)
    assert not target_group_settings_observation(
        [], preserve_client_ip=None, proxy_protocol_v2=False
    ).ready
