"""Checks of the traffic itself: answered, logged once, the client address, the spread.

The heart is ``client_ip_preserved``: with ``externalTrafficPolicy: Local`` and the NLB's
instance targets, the pods log the bastion's private address; with ``Cluster``, kube-proxy
SNATs to the receiving node, so the logs show node addresses instead, which the check names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kops_nlb.core.verify.checks.matching import (
    address_book,
    classify_addresses,
    normalise_ip,
    probe_matches,
    status_counts,
)
from kops_nlb.core.verify.checks.verdict import MAX_LISTED, CheckResult, count, listing, with_notes
from kops_nlb.core.verify.evidence import (
    AddressSummary,
    NlbFacts,
    PodLog,
    ProbeResult,
    TargetFacts,
)

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
            + listing(_describe_probe(p) for p in bad)
        )
    evidence = {
        "total": len(probes),
        "expected": expected,
        "ok": len(probes) - len(bad),
        "statuses": status_counts(probes),
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
    for match in probe_matches(pod_logs, token):
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
            f"not looked for: {count(len(probes) - len(answered), 'probe')} without an answer"
        )
    if unexpected:
        notes.append(f"{count(len(unexpected), 'marked line')} matched no reported probe")
    if not answered:
        detail = "no probe got an HTTP answer, so there is nothing to look for in the logs"
        return CheckResult(name, False, with_notes(detail, notes), evidence)
    problems = []
    if lost:
        problems.append(
            f"{len(lost)} of {len(answered)} answered probes are in no pod's log: "
            + listing(f"{p.label} #{p.seq}" for p in lost)
        )
    if duplicated:
        problems.append(
            f"{count(len(duplicated), 'probe')} logged more than once: "
            + listing(f"{p.label} #{p.seq} ({', '.join(pods_by_seq[p.seq])})" for p in duplicated)
        )
    if problems:
        return CheckResult(name, False, with_notes("; ".join(problems), notes), evidence)
    detail = f"each of the {len(answered)} answered probes was logged exactly once"
    return CheckResult(name, True, with_notes(detail, notes), evidence)


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
    matches = probe_matches(pod_logs, token)
    bastion = normalise_ip(bastion_ip)
    if not matches:
        return CheckResult(
            name,
            False,
            "no probe request was found in the pod logs: nothing shows which client address "
            "nginx saw",
            {"bastion_ip": bastion, "matched": 0, "addresses": []},
        )
    addresses = classify_addresses(
        Counter(normalise_ip(m.record.remote_addr) for m in matches),
        bastion=bastion,
        book=address_book(pod_logs=pod_logs, node_ips=node_ips, targets=targets, nlb=nlb),
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
        f"than the bastion's {bastion}: " + listing(_describe_address(a) for a in others)
    )
    kinds = {a.kind for a in others}
    if "node" in kinds:
        nodes = sorted({a.address for a in others if a.kind == "node"})
        detail += (
            f". {', '.join(nodes)} {'is a node IP' if len(nodes) == 1 else 'are node IPs'}: "
            "looks like externalTrafficPolicy Cluster (SNAT to node)"
        )
    if "nlb" in kinds:
        nlb_ips = sorted({a.address for a in others if a.kind == "nlb"})
        detail += (
            f". {', '.join(nlb_ips)} {'is' if len(nlb_ips) == 1 else 'are'} the NLB's own private "
            f"{'address' if len(nlb_ips) == 1 else 'addresses'}: client IP preservation is off "
            "on the target group (the default for ip targets)"
        )
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
    served = Counter(m.pod.pod_name for m in probe_matches(pod_logs, token))
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
