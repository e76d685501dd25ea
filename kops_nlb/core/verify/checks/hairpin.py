"""The probe's own source must not be a target of the NLB it probes (hairpin).

With client IP preservation, AWS cannot deliver a connection from a target back to that same
target through its load balancer: the reply goes straight to the client's own address, which
never opened a connection to it, and the attempt times out ("Connections time out for requests
from a target to its load balancer", AWS NLB troubleshooting). A bastion that is also a
registered target would see about one request in N (N targets) time out, which reads like a
flaky NLB. The probe therefore runs from a host that is not a target, and this check says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from kops_nlb.core.verify.checks.verdict import CheckResult
from kops_nlb.core.verify.evidence import TargetFacts


def probe_source_not_a_target(
    *, targets: Sequence[TargetFacts], source_instance_id: str, source_ip: str
) -> CheckResult:
    """Check that the probing host is not registered with the NLB (by instance id or address)."""
    name = "probe_source_not_a_target"
    hits = sorted(
        {t.target_group for t in targets if t.instance_id in (source_instance_id, source_ip)}
    )
    evidence = {"source": source_instance_id, "source_ip": source_ip, "target_groups": hits}
    if hits:
        detail = (
            f"the probing host {source_instance_id} ({source_ip}) is a target of "
            f"{', '.join(hits)}: with client IP preservation its requests that the NLB sends "
            "back to itself time out (hairpin); probe from a host that is not a target"
        )
        return CheckResult(name, False, detail, evidence)
    detail = f"the probing host {source_instance_id} is not a target, so no request can hairpin"
    return CheckResult(name, True, detail, evidence)
