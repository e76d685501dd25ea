"""The verification checks, table-driven over hand-made facts.

A baseline run passes every check: two nginx pods on two nodes, a third node without nginx
(its target unhealthy, as Local makes it), ten probes answered 200 and each logged once with
the bastion's address. Each case changes one thing and names the check that must notice.
Log lines are real ``main``-format text parsed by ``kops_nlb.core.verify.access_log.parse_line``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from kops_nlb.core.naming import NLB_INTERNAL_ANNOTATION, NLB_TYPE_ANNOTATION
from kops_nlb.core.verify.access_log import AccessLogRecord, parse_line
from kops_nlb.core.verify.checks import CheckResult, evidence_summary, failed, run_checks
from kops_nlb.core.verify.evidence import (
    NlbFacts,
    PodLog,
    ProbeResult,
    ServiceFacts,
    TargetFacts,
    VerificationFacts,
)
from kops_nlb.core.verify.probe_script import probe_path, probe_user_agent

TOKEN = "3f2a9c1e5d7b"
OTHER_TOKEN = "aaaaaaaaaaaa"
BASTION = "172.20.2.145"
NODE_A, NODE_A_IP = "i-0aaa.ap-northeast-1.compute.internal", "172.20.40.10"
NODE_B, NODE_B_IP = "i-0bbb.ap-northeast-1.compute.internal", "172.20.70.20"
NODE_C, NODE_C_IP = "i-0ccc.ap-northeast-1.compute.internal", "172.20.90.30"
NLB_DNS = "a0123456789abcdef0123456789abcde-0123456789abcdef.elb.ap-northeast-1.amazonaws.com"
NLB_IP_A = "172.20.33.7"
CHECK_NAMES = [
    "probes_answered_ok",
    "probes_logged_once",
    "client_ip_preserved",
    "spread_over_pods",
    "nlb_shape",
    "targets_healthy",
    "service_not_drifted",
]

# --- builders --------------------------------------------------------------------------------


def probe(seq: int, *, label: str = "dns", status: int = 200, curl_exit: int = 0) -> ProbeResult:
    """A probe result as parse_probe_output would return it."""
    index = 0 if label == "dns" else 1
    return ProbeResult(
        label=label,
        seq=seq,
        target_index=index,
        token=TOKEN,
        user_agent=probe_user_agent(TOKEN, index, seq),
        path=probe_path(TOKEN, seq),
        status=status,
        remote_ip=None if status == 0 else "172.20.33.7",
        remote_port=None if status == 0 else 80,
        time_s=0.002 * seq,
        curl_exit=curl_exit,
    )


def line(
    seq: int,
    *,
    remote: str = BASTION,
    token: str = TOKEN,
    ua: str | None = None,
    path: str | None = None,
    second: int = 0,
) -> AccessLogRecord:
    """One nginx access-log record of probe request `seq`, parsed from real log text."""
    user_agent = ua if ua is not None else probe_user_agent(token, 0, seq)
    target = path if path is not None else probe_path(token, seq)
    text = (
        f'{remote} - - [25/Nov/2026:18:21:{second:02d} +0000] "GET {target} HTTP/1.1" '
        f'200 615 "-" "{user_agent}" "-"'
    )
    record = parse_line(text)
    assert record is not None, text
    return record


NOISE = [
    # kube-probe and a stray client: unrelated traffic the checks must ignore.
    line(0, remote=NODE_A_IP, ua="kube-probe/1.35", path="/"),
    line(0, remote="172.20.99.99", ua="curl/8.5.0", path="/healthz"),
    # A probe line of an earlier run (another token).
    line(1, remote=NODE_B_IP, token=OTHER_TOKEN),
]


def pod(
    name: str,
    node: str,
    node_ip: str,
    seqs: list[int],
    *,
    remote: str = BASTION,
    ready: bool = True,
) -> PodLog:
    """An nginx pod whose log holds probe lines `seqs` (from `remote`) among some noise."""
    return PodLog(
        pod_name=name,
        node_name=node,
        pod_ip=f"100.96.{len(name)}.{seqs[0] if seqs else 1}",
        node_ip=node_ip,
        records=(*NOISE, *(line(seq, remote=remote, second=seq) for seq in seqs)),
        ready=ready,
    )


def target(node: str, state: str = "healthy", reason: str | None = None) -> TargetFacts:
    """A target of the NLB's target group."""
    ip = {NODE_A: NODE_A_IP, NODE_B: NODE_B_IP, NODE_C: NODE_C_IP}[node]
    return TargetFacts(
        instance_id=f"i-{node[2:6]}",
        node_name=node,
        state=state,
        reason=reason,
        node_ip=ip,
        target_group="k8s-default-nginx-0123456789",
    )


def baseline() -> VerificationFacts:
    """A run where every check passes."""
    return VerificationFacts(
        token=TOKEN,
        bastion_ip=BASTION,
        probes=[probe(n) for n in range(1, 6)] + [probe(n, label="az:1a") for n in range(6, 11)],
        pod_logs=[
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9]),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ],
        nlb=NlbFacts(
            type="network",
            scheme="internal",
            state="active",
            dns_name=NLB_DNS,
            name="a0123456789abcdef0123456789abcde",
            addresses={"ap-northeast-1a": NLB_IP_A},
        ),
        targets=[
            target(NODE_A),
            target(NODE_B),
            target(NODE_C, "unhealthy", "Target.FailedHealthChecks"),
        ],
        service=ServiceFacts(
            namespace="default",
            name="nginx",
            type="LoadBalancer",
            external_traffic_policy="Local",
            annotations={NLB_TYPE_ANNOTATION: "nlb", NLB_INTERNAL_ANNOTATION: "true"},
            ingress_hostname=NLB_DNS,
        ),
        expected_policy="Local",
        node_ips={NODE_A: NODE_A_IP, NODE_B: NODE_B_IP, NODE_C: NODE_C_IP},
        expected_probes=10,
    )


def with_pods(*pods: PodLog) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change that replaces the pod logs."""
    return lambda facts: replace(facts, pod_logs=list(pods))


def with_probes(*probes: ProbeResult) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change that replaces the probe results."""
    return lambda facts: replace(facts, probes=list(probes), expected_probes=len(probes))


def with_service(**changes: Any) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change to the Service facts."""
    return lambda facts: replace(facts, service=replace(_service(facts), **changes))


def with_annotations(**annotations: str | None) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change to the Service's annotations (None removes one); keys by short name."""
    keys = {"type": NLB_TYPE_ANNOTATION, "internal": NLB_INTERNAL_ANNOTATION}

    def change(facts: VerificationFacts) -> VerificationFacts:
        current = dict(_service(facts).annotations)
        for short, value in annotations.items():
            if value is None:
                current.pop(keys[short], None)
            else:
                current[keys[short]] = value
        return replace(facts, service=replace(_service(facts), annotations=current))

    return change


def with_nlb(**changes: Any) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change to the NLB facts."""

    def change(facts: VerificationFacts) -> VerificationFacts:
        assert facts.nlb is not None
        return replace(facts, nlb=replace(facts.nlb, **changes))

    return change


def with_(**changes: Any) -> Callable[[VerificationFacts], VerificationFacts]:
    """A change to top-level facts."""
    return lambda facts: replace(facts, **changes)


def _service(facts: VerificationFacts) -> ServiceFacts:
    assert facts.service is not None
    return facts.service


def result_of(facts: VerificationFacts, name: str) -> CheckResult:
    """The named check's result from run_checks."""
    results = {r.name: r for r in run_checks(facts)}
    return results[name]


# --- the baseline ----------------------------------------------------------------------------


def test_baseline_passes_every_check_in_order() -> None:
    """The healthy Local run passes all seven checks, reported in a fixed order."""
    results = run_checks(baseline())
    assert [r.name for r in results] == CHECK_NAMES
    assert failed(results) == [], [r.detail for r in failed(results)]


def test_failed_keeps_only_failures_in_order() -> None:
    """failed() returns the results that did not pass."""
    ok = CheckResult("a", True, "fine")
    bad1 = CheckResult("b", False, "broken")
    bad2 = CheckResult("c", False, "broken too", {"n": 1})
    assert failed([ok, bad1, ok, bad2]) == [bad1, bad2]
    assert failed([]) == []


# --- one change, one verdict ------------------------------------------------------------------

Change = Callable[[VerificationFacts], VerificationFacts]

CASES: list[Any] = [
    # client_ip_preserved: what Cluster produces, and other wrong addresses
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote=NODE_A_IP),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10], remote=NODE_C_IP),
        ),
        "client_ip_preserved",
        False,
        [
            "10 of 10",
            f"{NODE_A_IP} x5 (node {NODE_A})",
            f"{NODE_C_IP} x5 (node {NODE_C})",
            "are node IPs",
            "looks like externalTrafficPolicy Cluster (SNAT to node)",
        ],
        id="cluster-snat-to-nodes",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9]),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10], remote=NODE_B_IP),
        ),
        "client_ip_preserved",
        False,
        ["5 of 10", f"{NODE_B_IP} x5", "is a node IP", "Cluster (SNAT to node)"],
        id="half-snat",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote=NLB_IP_A),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ),
        "client_ip_preserved",
        False,
        [
            f"{NLB_IP_A} x5 (NLB in ap-northeast-1a)",
            "the NLB's own private address: client IP preservation is off",
        ],
        id="nlb-address",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote="100.64.9.9"),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ),
        "client_ip_preserved",
        False,
        ["100.64.9.9 x5", "neither the bastion, a known node nor the NLB"],
        id="unknown-address",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote=f"::ffff:{BASTION}"),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ),
        "client_ip_preserved",
        True,
        [f"all 10 probe requests were logged with the bastion's address {BASTION}"],
        id="ipv4-mapped-bastion",
    ),
    pytest.param(
        with_pods(
            PodLog("nginx-a", NODE_A, "100.96.1.1", NODE_A_IP, NOISE),
            PodLog("nginx-b", NODE_B, "100.96.2.1", NODE_B_IP, ()),
        ),
        "client_ip_preserved",
        False,
        ["no probe request was found in the pod logs"],
        id="no-probe-lines",
    ),
    # probes_logged_once
    pytest.param(
        with_probes(*(probe(n) for n in range(1, 12))),
        "probes_logged_once",
        False,
        ["1 of 11 answered probes are in no pod's log: dns #11"],
        id="lost-probe",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9]),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 3, 4, 6, 8, 10]),
        ),
        "probes_logged_once",
        False,
        ["1 probe logged more than once: dns #3 (nginx-a, nginx-b)"],
        id="duplicated-across-pods",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9, 9]),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ),
        "probes_logged_once",
        False,
        ["az:1a #9 (nginx-a, nginx-a)"],
        id="duplicated-in-one-pod",
    ),
    pytest.param(
        with_probes(*(probe(n) for n in range(1, 11)), probe(11, status=0, curl_exit=28)),
        "probes_logged_once",
        True,
        ["each of the 10 answered probes", "not looked for: 1 probe without an answer"],
        id="unanswered-not-looked-for",
    ),
    pytest.param(
        with_probes(probe(1, status=0, curl_exit=7), probe(2, status=0, curl_exit=7)),
        "probes_logged_once",
        False,
        ["no probe got an HTTP answer"],
        id="nothing-answered",
    ),
    pytest.param(
        with_probes(*(probe(n) for n in range(1, 10))),
        "probes_logged_once",
        True,
        ["1 marked line matched no reported probe"],
        id="unreported-line-noted",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9]),
            PodLog(
                "nginx-b",
                NODE_B,
                "100.96.2.1",
                NODE_B_IP,
                # Found by path alone (a proxy rewrote the User-Agent) or by User-Agent alone.
                [line(n, ua="curl/8.5.0") for n in (2, 4, 6)]
                + [line(n, path="/") for n in (8, 10)],
            ),
        ),
        "probes_logged_once",
        True,
        ["each of the 10 answered probes was logged exactly once"],
        id="matched-by-path-or-user-agent",
    ),
    # probes_answered_ok
    pytest.param(
        with_probes(*(probe(n) for n in range(1, 10)), probe(10, status=502)),
        "probes_answered_ok",
        False,
        ["1 of 10 probes failed: dns #10 HTTP 502"],
        id="http-502",
    ),
    pytest.param(
        with_probes(*(probe(n) for n in range(1, 10)), probe(10, status=0, curl_exit=7)),
        "probes_answered_ok",
        False,
        ["dns #10 no answer (curl exit 7: could not connect)"],
        id="refused",
    ),
    pytest.param(
        with_(expected_probes=12),
        "probes_answered_ok",
        False,
        ["only 10 of 12 probe results came back (the script was cut short?)"],
        id="missing-results",
    ),
    pytest.param(
        with_(expected_probes=12, probe_output_truncated=True),
        "probes_answered_ok",
        False,
        ["SSM truncated the output"],
        id="truncated-output",
    ),
    pytest.param(
        with_(expected_probes=9),
        "probes_answered_ok",
        False,
        ["10 probe results came back for 9 requests sent"],
        id="more-results-than-sent",
    ),
    pytest.param(
        with_probes(),
        "probes_answered_ok",
        False,
        ["the probe printed no result lines"],
        id="no-results",
    ),
    # spread_over_pods
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, list(range(1, 11))),
            pod("nginx-b", NODE_B, NODE_B_IP, []),
        ),
        "spread_over_pods",
        False,
        ["only nginx-a of 2 ready pods served probes (nginx-a 10, nginx-b 0)"],
        id="one-pod-of-two",
    ),
    pytest.param(
        with_pods(pod("nginx-a", NODE_A, NODE_A_IP, list(range(1, 11)))),
        "spread_over_pods",
        True,
        ["only one ready nginx pod (nginx-a): spreading does not apply"],
        id="single-pod",
    ),
    pytest.param(
        with_pods(
            pod("nginx-a", NODE_A, NODE_A_IP, list(range(1, 11))),
            pod("nginx-b", NODE_B, NODE_B_IP, [], ready=False),
        ),
        "spread_over_pods",
        True,
        ["only one ready nginx pod"],
        id="second-pod-not-ready",
    ),
    pytest.param(
        with_pods(pod("nginx-a", NODE_A, NODE_A_IP, [1], ready=False)),
        "spread_over_pods",
        False,
        ["no ready nginx pod"],
        id="no-ready-pod",
    ),
    # nlb_shape
    pytest.param(
        with_nlb(scheme="internet-facing"),
        "nlb_shape",
        False,
        ["scheme is 'internet-facing' (want 'internal')"],
        id="internet-facing",
    ),
    pytest.param(
        with_nlb(state="provisioning", type="application"),
        "nlb_shape",
        False,
        ["type is 'application' (want 'network')", "state is 'provisioning' (want 'active')"],
        id="alb-provisioning",
    ),
    pytest.param(with_(nlb=None), "nlb_shape", False, ["no load balancer was found"], id="no-nlb"),
    pytest.param(
        with_(expected_internal=False),
        "nlb_shape",
        False,
        ["scheme is 'internal' (want 'internet-facing')"],
        id="internal-when-public-wanted",
    ),
    # targets_healthy
    pytest.param(
        with_(),
        "targets_healthy",
        True,
        [
            "the 2 targets on nodes running nginx are healthy",
            "1 target on nodes without an nginx pod not healthy, as expected under Local",
            f"{NODE_C} (i-0ccc) unhealthy, Target.FailedHealthChecks",
        ],
        id="local-podless-unhealthy-passes",
    ),
    pytest.param(
        with_(expected_policy="Cluster"),
        "targets_healthy",
        False,
        ["1 of 3 targets are not healthy under Cluster", f"{NODE_C} (i-0ccc) unhealthy"],
        id="cluster-podless-unhealthy-fails",
    ),
    pytest.param(
        with_(
            expected_policy="Cluster",
            targets=[target(NODE_A), target(NODE_B), target(NODE_C)],
        ),
        "targets_healthy",
        True,
        ["all 3 targets are healthy"],
        id="cluster-all-healthy",
    ),
    pytest.param(
        with_(
            targets=[
                target(NODE_A, "unhealthy", "Target.Timeout"),
                target(NODE_B),
                target(NODE_C, "unhealthy"),
            ]
        ),
        "targets_healthy",
        False,
        [f"1 target on nodes running nginx not healthy: {NODE_A} (i-0aaa) unhealthy"],
        id="local-pod-node-unhealthy",
    ),
    pytest.param(
        with_(targets=[target(NODE_A), target(NODE_C)]),
        "targets_healthy",
        False,
        [f"nodes running nginx that are not targets: {NODE_B}"],
        id="pod-node-not-registered",
    ),
    pytest.param(
        with_(targets=[]), "targets_healthy", False, ["no targets are registered"], id="no-targets"
    ),
    # service_not_drifted
    pytest.param(
        with_annotations(type="external"),
        "service_not_drifted",
        False,
        [f"annotation {NLB_TYPE_ANNOTATION} is 'external' (want 'nlb')"],
        id="type-annotation-drifted",
    ),
    pytest.param(
        with_annotations(internal=None),
        "service_not_drifted",
        False,
        [f"annotation {NLB_INTERNAL_ANNOTATION} is missing (want 'true')"],
        id="internal-annotation-removed",
    ),
    pytest.param(
        with_annotations(internal="0.0.0.0/0"),
        "service_not_drifted",
        False,
        ["is '0.0.0.0/0' (want 'true')"],
        id="internal-annotation-odd",
    ),
    pytest.param(
        with_service(external_traffic_policy="Cluster"),
        "service_not_drifted",
        False,
        ["externalTrafficPolicy is 'Cluster' (want 'Local')"],
        id="policy-cluster",
    ),
    pytest.param(
        with_service(type="NodePort"),
        "service_not_drifted",
        False,
        ["type is 'NodePort' (want 'LoadBalancer')"],
        id="not-a-load-balancer",
    ),
    pytest.param(
        with_service(ingress_hostname="other.elb.amazonaws.com"),
        "service_not_drifted",
        False,
        [f"points at other.elb.amazonaws.com, not at the NLB {NLB_DNS}"],
        id="points-elsewhere",
    ),
    pytest.param(
        with_service(ingress_hostname=NLB_DNS.upper() + "."),
        "service_not_drifted",
        True,
        ["default/nginx asks for an internal NLB with externalTrafficPolicy Local"],
        id="hostname-case-and-dot",
    ),
    pytest.param(
        with_(service=None), "service_not_drifted", False, ["Service was not found"], id="no-svc"
    ),
]


@pytest.mark.parametrize(("change", "check", "passed", "phrases"), CASES)
def test_check_verdicts(change: Change, check: str, passed: bool, phrases: list[str]) -> None:
    """One change to the healthy run flips (or keeps) the named check, saying why."""
    result = result_of(change(baseline()), check)
    assert result.passed is passed, result.detail
    for phrase in phrases:
        assert phrase in result.detail


def test_cluster_snat_evidence_lists_addresses_with_counts_and_owners() -> None:
    """The evidence of a Cluster-like failure has each address, its count and its node."""
    facts = with_pods(
        pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote=NODE_A_IP),
        pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10, 11], remote=NODE_B_IP),
    )(baseline())
    result = result_of(facts, "client_ip_preserved")
    assert result.evidence == {
        "bastion_ip": BASTION,
        "matched": 11,
        "addresses": [
            {"address": NODE_B_IP, "count": 6, "kind": "node", "owner": NODE_B},
            {"address": NODE_A_IP, "count": 5, "kind": "node", "owner": NODE_A},
        ],
    }


def test_lost_and_duplicated_evidence() -> None:
    """The evidence names lost and duplicated probes and where the duplicates were."""
    facts = replace(
        baseline(),
        probes=[probe(n) for n in range(1, 12)],
        pod_logs=[
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9]),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 5, 6, 8, 10]),
        ],
    )
    result = result_of(facts, "probes_logged_once")
    assert not result.passed
    assert result.evidence["lost"] == [{"label": "dns", "seq": 11}]
    assert result.evidence["duplicated"] == [
        {"label": "dns", "seq": 5, "pods": ["nginx-a", "nginx-b"]}
    ]


def test_every_check_fails_on_an_empty_run() -> None:
    """With nothing observed, nothing passes (an empty run must never look healthy)."""
    facts = VerificationFacts(
        token=TOKEN, bastion_ip=BASTION, probes=[], pod_logs=[], nlb=None, targets=[], service=None
    )
    assert [r.name for r in failed(run_checks(facts))] == CHECK_NAMES


# --- the evidence summary ----------------------------------------------------------------------


def test_other_lines_include_the_lines_the_token_scan_did_not_parse() -> None:
    facts = baseline()
    scanned = replace(facts, pod_logs=[replace(p, unparsed_lines=40) for p in facts.pod_logs])
    before = [p.other_lines for p in evidence_summary(facts).pods]
    assert [p.other_lines for p in evidence_summary(scanned).pods] == [n + 40 for n in before]


def test_evidence_summary() -> None:
    """Per-pod counts, client addresses, a few samples from each pod, per-label statistics."""
    facts = replace(
        baseline(),
        probes=[*baseline().probes[:-1], probe(10, label="az:1a", status=0, curl_exit=28)],
    )
    summary = evidence_summary(facts, samples=3)

    assert [(p.pod_name, p.probe_lines, p.other_lines) for p in summary.pods] == [
        ("nginx-a", 5, 3),
        ("nginx-b", 5, 3),
    ]
    assert [(a.address, a.count, a.kind) for a in summary.client_addresses] == [
        (BASTION, 10, "bastion")
    ]
    assert [(s.pod_name, s.request) for s in summary.samples] == [
        ("nginx-a", f"GET /?probe={TOKEN}&i=1 HTTP/1.1"),
        ("nginx-b", f"GET /?probe={TOKEN}&i=2 HTTP/1.1"),
        ("nginx-a", f"GET /?probe={TOKEN}&i=3 HTTP/1.1"),
    ]
    assert summary.samples[0].remote_addr == BASTION
    assert summary.samples[0].time == "2026-11-25T18:21:01+00:00"
    dns, zone = summary.labels
    assert (dns.label, dns.count, dns.ok, dict(dns.statuses)) == ("dns", 5, 5, {"200": 5})
    assert dns.median_s == pytest.approx(0.006)
    assert dns.max_s == pytest.approx(0.010)
    assert (zone.label, zone.count, zone.ok) == ("az:1a", 5, 4)
    assert dict(zone.statuses) == {"000": 1, "200": 4}
    assert zone.remote_ips == ("172.20.33.7",)
    assert summary.unmatched_probe_lines == 0
    as_dict = summary.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["client_addresses"] == [
        {"address": BASTION, "count": 10, "kind": "bastion", "owner": None}
    ]


def test_evidence_summary_names_node_addresses_and_counts_unreported_lines() -> None:
    """Under SNAT the summary classifies the node addresses; lines without a result are counted."""
    facts = replace(
        baseline(),
        probes=baseline().probes[:8],
        pod_logs=[
            pod("nginx-a", NODE_A, NODE_A_IP, [1, 3, 5, 7, 9], remote=NODE_C_IP),
            pod("nginx-b", NODE_B, NODE_B_IP, [2, 4, 6, 8, 10]),
        ],
    )
    summary = evidence_summary(facts, samples=0)
    assert [(a.address, a.count, a.kind, a.owner) for a in summary.client_addresses] == [
        (NODE_C_IP, 5, "node", NODE_C),
        (BASTION, 5, "bastion", None),
    ]
    assert summary.samples == ()
    assert summary.unmatched_probe_lines == 2
