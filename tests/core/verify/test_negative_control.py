"""The negative control and the target groups' delivered address, over hand-made facts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kops_nlb.core.verify.checks import run_checks
from kops_nlb.core.verify.checks.control import CANNOT_TELL, negative_control
from kops_nlb.core.verify.checks.infrastructure import target_groups_deliver_client_ip
from kops_nlb.core.verify.delivery import delivered_address
from kops_nlb.core.verify.evidence import ServiceFacts, TargetGroupFacts, VerificationFacts
from tests.core.verify.test_checks import (
    BASTION,
    NODE_A,
    NODE_A_IP,
    NODE_B,
    NODE_B_IP,
    baseline,
    pod,
    probe,
)


def canary(remote_a: str = NODE_A_IP, remote_b: str = NODE_B_IP) -> VerificationFacts:
    """The canary's facts: its own probes (11-20), logged with the given addresses."""
    facts = baseline()
    return replace(
        facts,
        probes=[probe(n, label="canary:dns") for n in range(11, 21)],
        pod_logs=[
            pod("nginx-a", NODE_A, NODE_A_IP, [11, 13, 15, 17, 19], remote=remote_a),
            pod("nginx-b", NODE_B, NODE_B_IP, [12, 14, 16, 18, 20], remote=remote_b),
        ],
        service=ServiceFacts(
            namespace="default",
            name="nginx-canary",
            type="LoadBalancer",
            external_traffic_policy="Cluster",
        ),
        expected_policy="Cluster",
    )


def test_a_canary_logged_with_node_addresses_passes_and_names_them() -> None:
    result = negative_control(canary())
    assert result.passed, result.detail
    assert f"{NODE_A_IP} x5 (node {NODE_A})" in result.detail
    assert "default/nginx-canary (externalTrafficPolicy Cluster)" in result.detail


@pytest.mark.parametrize(
    ("remote_a", "remote_b", "wrong"),
    [(BASTION, BASTION, 10), (BASTION, NODE_B_IP, 5)],
    ids=["all-bastion", "half-bastion"],
)
def test_a_canary_that_shows_the_bastion_fails_the_run(
    remote_a: str, remote_b: str, wrong: int
) -> None:
    facts = replace(
        baseline(),
        negative_control=replace(
            canary(remote_a, remote_b),
            service=replace(canary().service, external_traffic_policy="Local"),  # type: ignore[type-var]
        ),
    )
    result = next(r for r in run_checks(facts) if r.name == "negative_control")
    assert not result.passed
    assert CANNOT_TELL in result.detail
    assert f"{wrong} of 10 requests" in result.detail
    assert "externalTrafficPolicy Local" in result.detail


def test_a_canary_without_answers_or_lines_fails() -> None:
    unanswered = replace(canary(), probes=[probe(11, label="canary:dns", status=0, curl_exit=28)])
    assert "got no 200" in negative_control(unanswered).detail
    silent = replace(canary(), pod_logs=[])
    assert not negative_control(silent).passed
    assert "no request to default/nginx-canary" in negative_control(silent).detail
    nothing = replace(canary(), probes=[])
    assert not negative_control(nothing).passed


def test_run_checks_adds_the_control_only_when_the_run_has_one() -> None:
    assert "negative_control" not in [r.name for r in run_checks(baseline())]
    with_control = replace(baseline(), negative_control=canary())
    results = run_checks(with_control)
    assert results[-1].name == "negative_control"
    assert all(r.passed for r in results), [r.detail for r in results if not r.passed]


@pytest.mark.parametrize(
    ("target_type", "preserve", "proxy", "policy", "kind"),
    [
        ("instance", None, False, "Local", "client"),
        ("instance", True, False, "Local", "client"),
        ("instance", False, False, "Local", "nlb"),
        ("instance", None, False, "Cluster", "node"),
        ("instance", False, False, "Cluster", "node"),
        ("instance", None, True, "Cluster", "client"),
        ("ip", None, False, "Local", "nlb"),
        ("ip", None, False, "Cluster", "nlb"),
        ("ip", True, False, "Cluster", "client"),
        ("ip", False, True, "Local", "client"),
    ],
)
def test_delivered_address_follows_aws_rules(
    target_type: str, preserve: bool | None, proxy: bool, policy: str, kind: str
) -> None:
    delivery = delivered_address(
        target_type=target_type,
        preserve_client_ip=preserve,
        proxy_protocol_v2=proxy,
        policy=policy,
    )
    assert delivery.kind == kind


def group(target_type: str = "instance", preserve: bool | None = True, proxy: bool = False):  # type: ignore[no-untyped-def]
    return TargetGroupFacts(
        name="k8s-default-nginx-0123456789",
        target_type=target_type,
        preserve_client_ip=preserve,
        proxy_protocol_v2=proxy,
    )


def test_target_groups_check_reads_the_real_attributes() -> None:
    ok = target_groups_deliver_client_ip(groups=[group()], policy="Local")
    assert ok.passed, ok.detail
    off = target_groups_deliver_client_ip(groups=[group(preserve=False)], policy="Local")
    assert not off.passed
    assert "k8s-default-nginx-0123456789 (instance targets) delivers nlb addresses" in off.detail
    assert "preserve_client_ip.enabled is false" in off.detail
    ip_default = target_groups_deliver_client_ip(groups=[group("ip", None)], policy="Local")
    assert "(the default for ip targets)" in ip_default.detail
    proxy = target_groups_deliver_client_ip(groups=[group("ip", False, True)], policy="Local")
    assert proxy.passed and "PROXY" not in proxy.detail and "proxy protocol v2" in proxy.detail
    assert not target_groups_deliver_client_ip(groups=[], policy="Local").passed


def test_target_groups_check_wants_nginx_and_the_target_groups_to_agree_on_proxy() -> None:
    sends = target_groups_deliver_client_ip(
        groups=[group(proxy=True)], policy="Cluster", nginx_proxy_protocol=False
    )
    assert not sends.passed
    assert "sends a PROXY v2 header (proxy_protocol_v2.enabled is true)" in sends.detail
    assert "answers the binary header with 400" in sends.detail
    silent = target_groups_deliver_client_ip(
        groups=[group()], policy="Cluster", nginx_proxy_protocol=True
    )
    assert not silent.passed and "closes every connection as a broken header" in silent.detail
    agreed = target_groups_deliver_client_ip(
        groups=[group(proxy=True)], policy="Cluster", nginx_proxy_protocol=True
    )
    assert agreed.passed, agreed.detail


def test_run_checks_tells_the_target_groups_check_how_nginx_was_configured() -> None:
    facts = replace(baseline(), target_groups=[group(proxy=True)], nginx_proxy_protocol=False)
    result = next(r for r in run_checks(facts) if r.name == "target_groups_deliver_client_ip")
    assert not result.passed and "not configured for proxy protocol" in result.detail


def test_run_checks_judges_the_target_groups_with_the_services_real_policy() -> None:
    facts = replace(baseline(), target_groups=[group(preserve=False)])
    result = next(r for r in run_checks(facts) if r.name == "target_groups_deliver_client_ip")
    assert not result.passed


def test_the_service_is_judged_against_the_annotations_of_the_spec_mode() -> None:
    from kops_nlb.core.verify.checks.infrastructure import service_not_drifted

    facts = baseline()
    assert facts.service is not None
    lbc = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    }
    wrong = service_not_drifted(
        service=facts.service, expected_policy="Local", expected_annotations=lbc
    )
    assert not wrong.passed and "is 'nlb' (want 'external')" in wrong.detail
    right = service_not_drifted(
        service=replace(facts.service, annotations=lbc),
        expected_policy="Local",
        expected_annotations=lbc,
    )
    assert right.passed, right.detail


def test_a_probing_host_that_is_a_target_would_hairpin() -> None:
    from kops_nlb.core.verify.checks.hairpin import probe_source_not_a_target

    facts = baseline()
    ok = probe_source_not_a_target(
        targets=facts.targets, source_instance_id="i-bastion", source_ip=BASTION
    )
    assert ok.passed
    node = facts.targets[0]
    hit = probe_source_not_a_target(
        targets=facts.targets, source_instance_id=node.instance_id, source_ip="10.9.9.9"
    )
    assert not hit.passed and "(hairpin)" in hit.detail and node.target_group in hit.detail
    by_address = probe_source_not_a_target(
        targets=[replace(node, instance_id=BASTION)], source_instance_id="i-b", source_ip=BASTION
    )
    assert not by_address.passed
    with_id = replace(facts, bastion_instance_id="i-bastion")
    assert "probe_source_not_a_target" in [r.name for r in run_checks(with_id)]
    assert "probe_source_not_a_target" not in [r.name for r in run_checks(facts)]
