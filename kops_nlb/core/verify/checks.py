"""The verification checks: does the NLB deliver the bastion's own address to nginx?

Each check is a pure judgement over plain facts (``tasks/evidence.py``) and returns a
``CheckResult`` that names itself, says in one sentence what it saw, and carries the numbers
behind it. ``run_checks`` runs them all so that a failed run lists every broken property at
once; the flow raises once when ``failed`` is not empty.

The heart is ``client_ip_preserved``: with ``externalTrafficPolicy: Local`` and the NLB's
instance targets, the pods log the bastion's private address; with ``Cluster``, kube-proxy
SNATs to the receiving node, so the logs show node addresses instead, which the check names.
"""

from __future__ import annotations

import ipaddress
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kops_nlb.core.verify.access_log import AccessLogRecord
from kops_nlb.core.verify.evidence import (
    AddressSummary,
    EvidenceSummary,
    LabelSummary,
    NlbFacts,
    PodLog,
    PodSummary,
    ProbeResult,
    SampleLine,
    ServiceFacts,
    TargetFacts,
    TrafficPolicy,
    VerificationFacts,
)
from kops_nlb.core.verify.probe_script import probe_seq

ANNOTATION_LB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
ANNOTATION_LB_INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
# How many items a detail sentence lists before it says "and N more".
MAX_LISTED = 8

CURL_EXIT_MEANINGS = {
    3: "malformed URL",
    5: "could not resolve proxy",
    6: "could not resolve host",
    7: "could not connect",
    28: "timed out",
    45: "could not bind the source address",
    52: "empty reply",
    55: "send failed",
    56: "receive failed",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named check: passed or not, why in one sentence, and the numbers."""

    name: str
    passed: bool
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Match:
    """One log line that carries this run's probe mark."""

    pod: PodLog
    record: AccessLogRecord
    seq: int


def run_checks(facts: VerificationFacts) -> list[CheckResult]:
    """Return the result of every check, in report order."""
    return [
        probes_answered_ok(
            probes=facts.probes,
            expected=facts.expected_probes,
            output_truncated=facts.probe_output_truncated,
        ),
        probes_logged_once(probes=facts.probes, pod_logs=facts.pod_logs, token=facts.token),
        client_ip_preserved(
            pod_logs=facts.pod_logs,
            token=facts.token,
            bastion_ip=facts.bastion_ip,
            node_ips=facts.node_ips,
            targets=facts.targets,
            nlb=facts.nlb,
        ),
        spread_over_pods(pod_logs=facts.pod_logs, token=facts.token),
        nlb_shape(nlb=facts.nlb, internal=facts.expected_internal),
        targets_healthy(
            targets=facts.targets, pod_logs=facts.pod_logs, policy=facts.expected_policy
        ),
        service_not_drifted(
            service=facts.service,
            expected_policy=facts.expected_policy,
            internal=facts.expected_internal,
            nlb_dns=facts.nlb.dns_name if facts.nlb is not None else None,
        ),
    ]


def failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Return the results that did not pass, in their order."""
    return [result for result in results if not result.passed]


def probes_answered_ok(
    *,
    probes: Sequence[ProbeResult],
    expected: int | None = None,
    output_truncated: bool = False,
) -> CheckResult:
    """Check that every probe request came back 200 and that none is missing from the output."""
    name = "probes_answered_ok"
    bad = [p for p in probes if not p.ok]
    problems = []
    if not probes:
        problems.append("the probe printed no result lines")
    if expected is not None and probes and len(probes) < expected:
        why = "SSM truncated the output" if output_truncated else "the script was cut short?"
        problems.append(f"only {len(probes)} of {expected} probe results came back ({why})")
    elif expected is not None and len(probes) > expected:
        problems.append(f"{len(probes)} probe results came back for {expected} requests sent")
    if bad:
        problems.append(
            f"{len(bad)} of {len(probes)} probes failed: "
            + _listing(_describe_probe(p) for p in bad)
        )
    evidence = {
        "total": len(probes),
        "expected": expected,
        "ok": len(probes) - len(bad),
        "statuses": _status_counts(probes),
        "failures": [
            {
                "label": p.label,
                "seq": p.seq,
                "status": p.status,
                "curl_exit": p.curl_exit,
                "meaning": CURL_EXIT_MEANINGS.get(p.curl_exit),
            }
            for p in bad[:MAX_LISTED]
        ],
        "output_truncated": output_truncated,
    }
    if problems:
        return CheckResult(name, False, "; ".join(problems), evidence)
    return CheckResult(name, True, f"all {len(probes)} probes were answered 200", evidence)


def probes_logged_once(
    *, probes: Sequence[ProbeResult], pod_logs: Sequence[PodLog], token: str
) -> CheckResult:
    """Check that each answered probe request appears in exactly one pod's log, exactly once.

    A probe that got no HTTP answer (status 0) is not looked for: ``probes_answered_ok``
    already fails for it. Marked lines that match no reported probe (their result lines were
    lost) are reported, not failed.
    """
    name = "probes_logged_once"
    pods_by_seq: dict[int, list[str]] = {}
    for match in _probe_matches(pod_logs, token):
        pods_by_seq.setdefault(match.seq, []).append(match.pod.pod_name)
    answered = [p for p in probes if p.status != 0]
    lost = [p for p in answered if p.seq not in pods_by_seq]
    duplicated = [p for p in answered if len(pods_by_seq.get(p.seq, ())) > 1]
    unexpected = sorted(set(pods_by_seq) - {p.seq for p in probes})
    evidence = {
        "answered": len(answered),
        "unanswered": len(probes) - len(answered),
        "logged": sum(len(pods) for pods in pods_by_seq.values()),
        "lost": [{"label": p.label, "seq": p.seq} for p in lost],
        "duplicated": [
            {"label": p.label, "seq": p.seq, "pods": pods_by_seq[p.seq]} for p in duplicated
        ],
        "unexpected_seqs": unexpected,
    }
    notes = []
    if len(answered) < len(probes):
        notes.append(
            f"not looked for: {_count(len(probes) - len(answered), 'probe')} without an answer"
        )
    if unexpected:
        notes.append(f"{_count(len(unexpected), 'marked line')} matched no reported probe")
    if not answered:
        detail = "no probe got an HTTP answer, so there is nothing to look for in the logs"
        return CheckResult(name, False, _with_notes(detail, notes), evidence)
    problems = []
    if lost:
        problems.append(
            f"{len(lost)} of {len(answered)} answered probes are in no pod's log: "
            + _listing(f"{p.label} #{p.seq}" for p in lost)
        )
    if duplicated:
        problems.append(
            f"{_count(len(duplicated), 'probe')} logged more than once: "
            + _listing(f"{p.label} #{p.seq} ({', '.join(pods_by_seq[p.seq])})" for p in duplicated)
        )
    if problems:
        return CheckResult(name, False, _with_notes("; ".join(problems), notes), evidence)
    detail = f"each of the {len(answered)} answered probes was logged exactly once"
    return CheckResult(name, True, _with_notes(detail, notes), evidence)


def client_ip_preserved(
    *,
    pod_logs: Sequence[PodLog],
    token: str,
    bastion_ip: str,
    node_ips: Mapping[str, str] | None = None,
    targets: Sequence[TargetFacts] = (),
    nlb: NlbFacts | None = None,
) -> CheckResult:
    """Check that nginx logged the bastion's own address for every probe request.

    On failure the detail lists the addresses seen, with counts, and names the nodes (or NLB
    zones) they belong to: node addresses are what ``externalTrafficPolicy: Cluster`` produces.
    """
    name = "client_ip_preserved"
    matches = _probe_matches(pod_logs, token)
    bastion = _normalise_ip(bastion_ip)
    if not matches:
        return CheckResult(
            name,
            False,
            "no probe request was found in the pod logs: nothing shows which client address "
            "nginx saw",
            {"bastion_ip": bastion, "matched": 0, "addresses": []},
        )
    addresses = _classify_addresses(
        Counter(_normalise_ip(m.record.remote_addr) for m in matches),
        bastion=bastion,
        book=_address_book(pod_logs=pod_logs, node_ips=node_ips, targets=targets, nlb=nlb),
    )
    evidence = {
        "bastion_ip": bastion,
        "matched": len(matches),
        "addresses": [_address_dict(a) for a in addresses],
    }
    others = [a for a in addresses if a.kind != "bastion"]
    if not others:
        detail = (
            f"all {len(matches)} probe requests were logged with the bastion's address {bastion}"
        )
        return CheckResult(name, True, detail, evidence)
    wrong = sum(a.count for a in others)
    detail = (
        f"{wrong} of {len(matches)} probe requests were logged with a client address other "
        f"than the bastion's {bastion}: " + _listing(_describe_address(a) for a in others)
    )
    kinds = {a.kind for a in others}
    if "node" in kinds:
        nodes = sorted({a.address for a in others if a.kind == "node"})
        detail += (
            f". {', '.join(nodes)} {'is a node IP' if len(nodes) == 1 else 'are node IPs'}: "
            "looks like externalTrafficPolicy Cluster (SNAT to node)"
        )
    if "nlb" in kinds:
        detail += ". The NLB's own addresses: looks like ip targets without client IP preservation"
    if "unknown" in kinds:
        detail += (
            ". Some addresses are neither the bastion, a known node nor the NLB (a node's "
            "overlay tunnel address under Cluster, or a proxy on the way?)"
        )
    return CheckResult(name, False, detail, evidence)


def spread_over_pods(*, pod_logs: Sequence[PodLog], token: str) -> CheckResult:
    """Check that more than one ready pod served probes when several are ready."""
    name = "spread_over_pods"
    ready = [p for p in pod_logs if p.ready]
    served = Counter(m.pod.pod_name for m in _probe_matches(pod_logs, token))
    per_pod = {p.pod_name: served.get(p.pod_name, 0) for p in ready}
    serving = [pod for pod, count in per_pod.items() if count > 0]
    evidence = {"ready_pods": len(ready), "per_pod": per_pod, "serving_pods": len(serving)}
    if not ready:
        return CheckResult(name, False, "no ready nginx pod to spread over", evidence)
    if len(ready) == 1:
        detail = f"only one ready nginx pod ({ready[0].pod_name}): spreading does not apply"
        return CheckResult(name, True, detail, evidence)
    counts = ", ".join(f"{pod} {count}" for pod, count in per_pod.items())
    if len(serving) > 1:
        detail = f"probes were served by {len(serving)} of {len(ready)} ready pods ({counts})"
        return CheckResult(name, True, detail, evidence)
    who = f"only {serving[0]}" if serving else "no pod"
    detail = (
        f"{who} of {len(ready)} ready pods served probes ({counts}); under Local the NLB "
        "balances per node, so probe each zone's address when cross-zone balancing is off"
    )
    return CheckResult(name, False, detail, evidence)


def nlb_shape(*, nlb: NlbFacts | None, internal: bool = True) -> CheckResult:
    """Check that the Service's load balancer is an active network LB of the wanted scheme."""
    name = "nlb_shape"
    if nlb is None:
        return CheckResult(name, False, "no load balancer was found for the Service", {})
    scheme = "internal" if internal else "internet-facing"
    evidence = {
        "name": nlb.name,
        "type": nlb.type,
        "scheme": nlb.scheme,
        "state": nlb.state,
        "dns_name": nlb.dns_name,
    }
    problems = [
        f"{what} is {actual!r} (want {want!r})"
        for what, actual, want in (
            ("type", nlb.type, "network"),
            ("scheme", nlb.scheme, scheme),
            ("state", nlb.state, "active"),
        )
        if actual != want
    ]
    if problems:
        return CheckResult(
            name, False, f"{nlb.name or nlb.dns_name}: {'; '.join(problems)}", evidence
        )
    return CheckResult(
        name, True, f"{nlb.name or nlb.dns_name} is an active {scheme} NLB", evidence
    )


def targets_healthy(
    *, targets: Sequence[TargetFacts], pod_logs: Sequence[PodLog], policy: TrafficPolicy
) -> CheckResult:
    """Check target health as the traffic policy implies.

    Under ``Local`` the health check runs against ``healthCheckNodePort``, which fails on purpose
    on nodes without a ready nginx pod: those targets may be unhealthy (reported, not failed),
    but every node running nginx must be a healthy target. Under ``Cluster`` all must be healthy.
    """
    name = "targets_healthy"
    if not targets:
        return CheckResult(name, False, "no targets are registered with the NLB", {})
    pod_nodes = {p.node_name for p in pod_logs if p.ready and p.node_name}
    evidence: dict[str, Any] = {
        "policy": policy,
        "targets": [
            {
                "instance_id": t.instance_id,
                "node_name": t.node_name,
                "state": t.state,
                "reason": t.reason,
                "target_group": t.target_group,
                "runs_nginx": t.node_name in pod_nodes,
            }
            for t in targets
        ],
    }
    if policy == "Cluster":
        bad = [t for t in targets if t.state != "healthy"]
        if bad:
            detail = (
                f"{len(bad)} of {len(targets)} targets are not healthy under Cluster, where every "
                "node should pass: " + _listing(_describe_target(t) for t in bad)
            )
            return CheckResult(name, False, detail, evidence)
        return CheckResult(name, True, f"all {len(targets)} targets are healthy", evidence)

    with_pod = [t for t in targets if t.node_name in pod_nodes]
    without_pod = [t for t in targets if t.node_name not in pod_nodes]
    bad = [t for t in with_pod if t.state != "healthy"]
    missing = sorted(
        f"{node} (target group {group})" if group else node
        for group, nodes in _nodes_by_group(targets).items()
        for node in pod_nodes - nodes
    )
    expected_unhealthy = [t for t in without_pod if t.state != "healthy"]
    evidence["missing_nodes"] = missing
    problems = []
    if bad:
        problems.append(
            f"{_count(len(bad), 'target')} on nodes running nginx not healthy: "
            + _listing(_describe_target(t) for t in bad)
        )
    if missing:
        problems.append("nodes running nginx that are not targets: " + _listing(missing))
    if not any(t.state == "healthy" for t in targets):
        problems.append("no target is healthy")
    note = ""
    if expected_unhealthy:
        note = (
            f"; {_count(len(expected_unhealthy), 'target')} on nodes without an nginx pod not "
            "healthy, as expected under Local: "
            + _listing(_describe_target(t) for t in expected_unhealthy)
        )
    if problems:
        return CheckResult(name, False, "; ".join(problems) + note, evidence)
    detail = f"the {len(with_pod)} targets on nodes running nginx are healthy" + note
    return CheckResult(name, True, detail, evidence)


def service_not_drifted(
    *,
    service: ServiceFacts | None,
    expected_policy: TrafficPolicy,
    internal: bool = True,
    nlb_dns: str | None = None,
) -> CheckResult:
    """Check that the Service still asks for an (internal) NLB with the expected traffic policy.

    With ``nlb_dns`` it also checks that the Service's ingress hostname is that NLB's name.
    """
    name = "service_not_drifted"
    if service is None:
        return CheckResult(name, False, "the nginx Service was not found", {})
    annotations = dict(service.annotations)
    evidence = {
        "service": f"{service.namespace}/{service.name}",
        "type": service.type,
        "external_traffic_policy": service.external_traffic_policy,
        "annotations": {
            key: annotations.get(key) for key in (ANNOTATION_LB_TYPE, ANNOTATION_LB_INTERNAL)
        },
        "ingress_hostname": service.ingress_hostname,
    }
    problems = []
    if service.type != "LoadBalancer":
        problems.append(f"type is {service.type!r} (want 'LoadBalancer')")
    problems.extend(_annotation_problem(annotations, ANNOTATION_LB_TYPE, "nlb"))
    if internal:
        problems.extend(_annotation_problem(annotations, ANNOTATION_LB_INTERNAL, "true"))
    elif annotations.get(ANNOTATION_LB_INTERNAL, "false") != "false":
        value = annotations[ANNOTATION_LB_INTERNAL]
        problems.append(f"annotation {ANNOTATION_LB_INTERNAL} is {value!r} (want it absent)")
    if service.external_traffic_policy != expected_policy:
        problems.append(
            f"externalTrafficPolicy is {service.external_traffic_policy!r} "
            f"(want {expected_policy!r})"
        )
    if nlb_dns is not None:
        if not service.ingress_hostname:
            problems.append("the Service has no load-balancer ingress hostname")
        elif _dns_key(service.ingress_hostname) != _dns_key(nlb_dns):
            problems.append(
                f"the Service points at {service.ingress_hostname}, not at the NLB {nlb_dns}"
            )
    where = f"{service.namespace}/{service.name}"
    if problems:
        return CheckResult(name, False, f"{where}: {'; '.join(problems)}", evidence)
    kind = "an internal NLB" if internal else "an NLB"
    detail = f"{where} asks for {kind} with externalTrafficPolicy {expected_policy}"
    return CheckResult(name, True, detail, evidence)


def evidence_summary(facts: VerificationFacts, *, samples: int = 3) -> EvidenceSummary:
    """Return the report's data: per-pod counts, client addresses, sample lines, per-label stats."""
    matches = _probe_matches(facts.pod_logs, facts.token)
    served = Counter(m.pod.pod_name for m in matches)
    pods = tuple(
        PodSummary(
            pod_name=p.pod_name,
            node_name=p.node_name,
            pod_ip=p.pod_ip,
            node_ip=p.node_ip,
            probe_lines=served.get(p.pod_name, 0),
            other_lines=len(p.records) - served.get(p.pod_name, 0),
        )
        for p in facts.pod_logs
    )
    addresses = _classify_addresses(
        Counter(_normalise_ip(m.record.remote_addr) for m in matches),
        bastion=_normalise_ip(facts.bastion_ip),
        book=_address_book(
            pod_logs=facts.pod_logs, node_ips=facts.node_ips, targets=facts.targets, nlb=facts.nlb
        ),
    )
    reported = {p.seq for p in facts.probes}
    return EvidenceSummary(
        token=facts.token,
        bastion_ip=facts.bastion_ip,
        expected_policy=facts.expected_policy,
        pods=pods,
        client_addresses=tuple(addresses),
        samples=tuple(_sample(m) for m in _round_robin(matches)[: max(0, samples)]),
        labels=_label_summaries(facts.probes),
        unmatched_probe_lines=sum(1 for m in matches if m.seq not in reported),
    )


# --- helpers -------------------------------------------------------------------------------


def _probe_matches(pod_logs: Sequence[PodLog], token: str) -> list[_Match]:
    """Return every log line, in every pod, that carries this run's probe mark."""
    matches = []
    for pod in pod_logs:
        for record in pod.records:
            seq = probe_seq(token=token, user_agent=record.http_user_agent, path=record.path)
            if seq is not None:
                matches.append(_Match(pod, record, seq))
    return matches


def _round_robin(matches: list[_Match]) -> list[_Match]:
    """Return the matches reordered so that each pod's first lines come first."""
    per_pod: dict[str, list[_Match]] = {}
    for match in matches:
        per_pod.setdefault(match.pod.pod_name, []).append(match)
    ordered: list[_Match] = []
    for depth in range(max((len(v) for v in per_pod.values()), default=0)):
        ordered.extend(lines[depth] for lines in per_pod.values() if depth < len(lines))
    return ordered


def _sample(match: _Match) -> SampleLine:
    record = match.record
    return SampleLine(
        pod_name=match.pod.pod_name,
        remote_addr=record.remote_addr,
        time=record.time_local.isoformat(),
        request=record.request,
        status=record.status,
        user_agent=record.http_user_agent,
    )


def _label_summaries(probes: Sequence[ProbeResult]) -> tuple[LabelSummary, ...]:
    by_label: dict[str, list[ProbeResult]] = {}
    for probe in probes:
        by_label.setdefault(probe.label, []).append(probe)
    summaries = []
    for label, group in by_label.items():
        times = [p.time_s for p in group if p.time_s is not None]
        summaries.append(
            LabelSummary(
                label=label,
                count=len(group),
                ok=sum(1 for p in group if p.ok),
                statuses=_status_counts(group),
                remote_ips=tuple(sorted({p.remote_ip for p in group if p.remote_ip})),
                median_s=statistics.median(times) if times else None,
                max_s=max(times) if times else None,
            )
        )
    return tuple(summaries)


def _status_counts(probes: Iterable[ProbeResult]) -> dict[str, int]:
    return dict(sorted(Counter(f"{p.status:03d}" for p in probes).items()))


def _address_book(
    *,
    pod_logs: Sequence[PodLog],
    node_ips: Mapping[str, str] | None,
    targets: Sequence[TargetFacts],
    nlb: NlbFacts | None,
) -> dict[str, tuple[str, str]]:
    """Return address -> (kind, owner) for every address the facts can name."""
    book: dict[str, tuple[str, str]] = {}
    for pod in pod_logs:
        if pod.pod_ip:
            book.setdefault(_normalise_ip(pod.pod_ip), ("pod", pod.pod_name))
    if nlb is not None:
        for zone, address in nlb.addresses.items():
            book[_normalise_ip(address)] = ("nlb", zone)
    for target in targets:
        if target.node_ip:
            book[_normalise_ip(target.node_ip)] = ("node", target.node_name or target.instance_id)
    for pod in pod_logs:
        if pod.node_ip:
            book[_normalise_ip(pod.node_ip)] = ("node", pod.node_name or "?")
    for node, address in (node_ips or {}).items():
        book[_normalise_ip(address)] = ("node", node)
    return book


def _classify_addresses(
    counts: Counter[str], *, bastion: str, book: Mapping[str, tuple[str, str]]
) -> list[AddressSummary]:
    summaries = []
    for address, count in counts.most_common():
        if address == bastion:
            summaries.append(AddressSummary(address, count, "bastion"))
        elif address in book:
            kind, owner = book[address]
            summaries.append(AddressSummary(address, count, kind, owner))
        else:
            summaries.append(AddressSummary(address, count, "unknown"))
    return summaries


def _address_dict(address: AddressSummary) -> dict[str, Any]:
    return {
        "address": address.address,
        "count": address.count,
        "kind": address.kind,
        "owner": address.owner,
    }


def _describe_address(address: AddressSummary) -> str:
    owner = {"node": "node", "nlb": "NLB in", "pod": "pod"}.get(address.kind)
    where = f" ({owner} {address.owner})" if owner and address.owner else ""
    return f"{address.address} x{address.count}{where}"


def _describe_probe(probe: ProbeResult) -> str:
    if probe.status == 0:
        meaning = CURL_EXIT_MEANINGS.get(probe.curl_exit)
        why = f"curl exit {probe.curl_exit}" + (f": {meaning}" if meaning else "")
        return f"{probe.label} #{probe.seq} no answer ({why})"
    if probe.curl_exit != 0:
        return f"{probe.label} #{probe.seq} HTTP {probe.status:03d} (curl exit {probe.curl_exit})"
    return f"{probe.label} #{probe.seq} HTTP {probe.status:03d}"


def _describe_target(target: TargetFacts) -> str:
    who = target.node_name or target.instance_id
    ident = f" ({target.instance_id})" if target.node_name else ""
    reason = f", {target.reason}" if target.reason else ""
    return f"{who}{ident} {target.state}{reason}"


def _nodes_by_group(targets: Sequence[TargetFacts]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for target in targets:
        nodes = groups.setdefault(target.target_group, set())
        if target.node_name:
            nodes.add(target.node_name)
    return groups


def _annotation_problem(annotations: Mapping[str, str], key: str, want: str) -> list[str]:
    value = annotations.get(key)
    if value is None:
        return [f"annotation {key} is missing (want {want!r})"]
    if value != want:
        return [f"annotation {key} is {value!r} (want {want!r})"]
    return []


def _listing(items: Iterable[str]) -> str:
    listed = list(items)
    shown = ", ".join(listed[:MAX_LISTED])
    if len(listed) > MAX_LISTED:
        shown += f" and {len(listed) - MAX_LISTED} more"
    return shown


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _with_notes(detail: str, notes: list[str]) -> str:
    return detail + "".join(f" ({note})" for note in notes)


def _normalise_ip(address: str) -> str:
    """Return an address in canonical form (IPv4-mapped IPv6 as IPv4); other text unchanged."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _dns_key(name: str) -> str:
    return name.lower().rstrip(".")
