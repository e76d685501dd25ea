"""The negative control: a canary Service under ``Cluster`` must NOT show the client's address.

A probe that always sees the expected address proves nothing. The canary Service selects the
same nginx pods behind its own NLB with ``externalTrafficPolicy: Cluster``, where kube-proxy
SNATs every request to a node's address. When the canary's requests are logged with node
addresses and the main Service's with the bastion's, the probe, the log reading and the
address comparison demonstrably tell the two policies apart; when the canary also shows the
bastion's address, the main check's pass means nothing.
"""

from __future__ import annotations

from collections import Counter

from kops_nlb.core.verify.checks.matching import (
    address_book,
    classify_addresses,
    normalise_ip,
    probe_matches,
)
from kops_nlb.core.verify.checks.verdict import CheckResult, count, listing
from kops_nlb.core.verify.evidence import AddressSummary, VerificationFacts

CANNOT_TELL = "the probe cannot tell the policies apart"


def negative_control(canary: VerificationFacts) -> CheckResult:
    """Check that the canary's requests were answered and logged, none with the bastion's address."""
    name = "negative_control"
    where = f"{canary.service.namespace}/{canary.service.name}" if canary.service else "the canary"
    policy = canary.service.external_traffic_policy if canary.service else None
    bastion = normalise_ip(canary.bastion_ip)
    matches = probe_matches(canary.pod_logs, canary.token)
    addresses = classify_addresses(
        Counter(normalise_ip(m.record.remote_addr) for m in matches),
        bastion=bastion,
        book=address_book(
            pod_logs=canary.pod_logs,
            node_ips=canary.node_ips,
            targets=canary.targets,
            nlb=canary.nlb,
        ),
    )
    answered = [p for p in canary.probes if p.ok]
    evidence = {
        "service": where,
        "external_traffic_policy": policy,
        "probes": len(canary.probes),
        "answered": len(answered),
        "matched": len(matches),
        "addresses": [
            {"address": a.address, "count": a.count, "kind": a.kind, "owner": a.owner}
            for a in addresses
        ],
    }
    if not canary.probes:
        return CheckResult(name, False, f"no probe of {where} came back", evidence)
    if len(answered) < len(canary.probes):
        detail = (
            f"{len(canary.probes) - len(answered)} of {len(canary.probes)} probes of {where} "
            "got no 200, so the control could not run"
        )
        return CheckResult(name, False, detail, evidence)
    if not matches:
        detail = f"no request to {where} was found in the pod logs"
        return CheckResult(name, False, detail, evidence)
    as_bastion = sum(a.count for a in addresses if a.kind == "bastion")
    if as_bastion:
        detail = (
            f"{as_bastion} of {len(matches)} requests to {where} (externalTrafficPolicy "
            f"{policy}) were logged with the bastion's address {bastion}, where Cluster "
            f"delivers node addresses: {CANNOT_TELL}"
        )
        return CheckResult(name, False, detail, evidence)
    detail = (
        f"all {count(len(matches), 'request')} to {where} (externalTrafficPolicy {policy}) were "
        f"logged with other addresses than the bastion's: {listing(_describe(a) for a in addresses)}"
    )
    return CheckResult(name, True, detail, evidence)


def _describe(address: AddressSummary) -> str:
    owner = f" ({address.kind} {address.owner})" if address.owner else f" ({address.kind})"
    return f"{address.address} x{address.count}{owner}"
