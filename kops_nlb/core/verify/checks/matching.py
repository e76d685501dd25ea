"""This run's probe lines in the nginx logs, and who the logged client addresses are."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kops_nlb.core.verify.access_log import AccessLogRecord
from kops_nlb.core.verify.evidence import (
    AddressSummary,
    NlbFacts,
    PodLog,
    ProbeResult,
    TargetFacts,
)
from kops_nlb.core.verify.probe_script import probe_seq


@dataclass(frozen=True)
class ProbeMatch:
    """One log line that carries this run's probe mark."""

    pod: PodLog
    record: AccessLogRecord
    seq: int


def probe_matches(pod_logs: Sequence[PodLog], token: str) -> list[ProbeMatch]:
    """Return every log line, in every pod, that carries this run's probe mark."""
    matches = []
    for pod in pod_logs:
        for record in pod.records:
            seq = probe_seq(token=token, user_agent=record.http_user_agent, path=record.path)
            if seq is not None:
                matches.append(ProbeMatch(pod, record, seq))
    return matches


def normalise_ip(address: str) -> str:
    """Return an address in canonical form (IPv4-mapped IPv6 as IPv4); other text unchanged."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def address_book(
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
            book.setdefault(normalise_ip(pod.pod_ip), ("pod", pod.pod_name))
    if nlb is not None:
        for zone, address in nlb.addresses.items():
            book[normalise_ip(address)] = ("nlb", zone)
    for target in targets:
        if target.node_ip:
            book[normalise_ip(target.node_ip)] = ("node", target.node_name or target.instance_id)
    for pod in pod_logs:
        if pod.node_ip:
            book[normalise_ip(pod.node_ip)] = ("node", pod.node_name or "?")
    for node, address in (node_ips or {}).items():
        book[normalise_ip(address)] = ("node", node)
    return book


def classify_addresses(
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


def status_counts(probes: Iterable[ProbeResult]) -> dict[str, int]:
    return dict(sorted(Counter(f"{p.status:03d}" for p in probes).items()))
