"""The evidence summary the report shows: addresses, pods, targets, sample lines."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from kops_nlb.core.verify.checks.matching import (
    ProbeMatch,
    address_book,
    classify_addresses,
    normalise_ip,
    probe_matches,
    status_counts,
)
from kops_nlb.core.verify.evidence import (
    EvidenceSummary,
    LabelSummary,
    PodSummary,
    ProbeResult,
    SampleLine,
    VerificationFacts,
)


def evidence_summary(facts: VerificationFacts, *, samples: int = 3) -> EvidenceSummary:
    """Return the report's data: per-pod counts, client addresses, sample lines, per-label stats."""
    matches = probe_matches(facts.pod_logs, facts.token)
    served = Counter(m.pod.pod_name for m in matches)
    pods = tuple(
        PodSummary(
            pod_name=p.pod_name,
            node_name=p.node_name,
            pod_ip=p.pod_ip,
            node_ip=p.node_ip,
            probe_lines=served.get(p.pod_name, 0),
            other_lines=len(p.records) - served.get(p.pod_name, 0) + p.unparsed_lines,
        )
        for p in facts.pod_logs
    )
    addresses = classify_addresses(
        Counter(normalise_ip(m.record.remote_addr) for m in matches),
        bastion=normalise_ip(facts.bastion_ip),
        book=address_book(
            pod_logs=facts.pod_logs, node_ips=facts.node_ips, targets=facts.targets, nlb=facts.nlb
        ),
    )
    reported = {p.seq for p in facts.probes}
    canary = facts.negative_control
    canary_addresses = (
        ()
        if canary is None
        else tuple(
            classify_addresses(
                Counter(
                    normalise_ip(m.record.remote_addr)
                    for m in probe_matches(canary.pod_logs, canary.token)
                ),
                bastion=normalise_ip(canary.bastion_ip),
                book=address_book(
                    pod_logs=canary.pod_logs,
                    node_ips=canary.node_ips,
                    targets=canary.targets,
                    nlb=canary.nlb,
                ),
            )
        )
    )
    return EvidenceSummary(
        token=facts.token,
        bastion_ip=facts.bastion_ip,
        expected_policy=facts.expected_policy,
        pods=pods,
        client_addresses=tuple(addresses),
        samples=tuple(_sample(m) for m in _round_robin(matches)[: max(0, samples)]),
        labels=_label_summaries([*facts.probes, *(canary.probes if canary else ())]),
        unmatched_probe_lines=sum(1 for m in matches if m.seq not in reported),
        canary_addresses=canary_addresses,
    )


def _round_robin(matches: list[ProbeMatch]) -> list[ProbeMatch]:
    """Return the matches reordered so that each pod's first lines come first."""
    per_pod: dict[str, list[ProbeMatch]] = {}
    for match in matches:
        per_pod.setdefault(match.pod.pod_name, []).append(match)
    ordered: list[ProbeMatch] = []
    for depth in range(max((len(v) for v in per_pod.values()), default=0)):
        ordered.extend(lines[depth] for lines in per_pod.values() if depth < len(lines))
    return ordered


def _sample(match: ProbeMatch) -> SampleLine:
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
                statuses=status_counts(group),
                remote_ips=tuple(sorted({p.remote_ip for p in group if p.remote_ip})),
                median_s=statistics.median(times) if times else None,
                max_s=max(times) if times else None,
            )
        )
    return tuple(summaries)
