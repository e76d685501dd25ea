"""What clients inside the cluster get from the NLB: which nodes try, and what their tries mean.

Two attempts, each from a node's own address (see ``in_cluster_job``):

- ``target``: from a node that is a healthy target of the NLB, through the NLB's address in that
  node's zone. Without cross-zone load balancing that address sends only to the zone's targets,
  so with one target per zone the connection comes back to the node that opened it. With client
  IP preservation (on for instance targets) AWS cannot deliver it: "Connections time out for
  requests from a target to its load balancer" (AWS NLB troubleshooting). A timeout is the
  documented behaviour, reported and not a failure; what would be wrong is an answer that nginx
  on the node itself logged from the node's own address.
- ``non-target``: from a node registered in no target group (the control-plane node, which kops
  labels ``node.kubernetes.io/exclude-from-external-load-balancers``). It must get an answer, and
  nginx logs the node's address where the NLB preserves the client's address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.nlb import NlbInterface, TargetGroupSettings, TargetHealth
from kops_nlb.core.verify.checks.verdict import CheckResult
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.core.verify.in_cluster_job import CURL_TIMED_OUT, CurlOutput, user_agent
from kops_nlb.core.verify.probe_script import ProbeTarget
from kops_nlb.core.workload import NodeInfo

TARGET, NON_TARGET = "target", "non-target"


@dataclass(frozen=True)
class InClusterAttempt:
    """One in-cluster request to make: from which node, to which of the NLB's addresses."""

    kind: str  # TARGET or NON_TARGET
    node_name: str
    node_ip: str
    target: ProbeTarget


@dataclass(frozen=True)
class InClusterRun:
    """What became of one attempt's Job: its container's exit code and output."""

    attempt: InClusterAttempt
    finished: bool
    exit_code: int | None
    output: CurlOutput


class InClusterFinding(BaseModel):
    """One attempt as the report states it: what the client got and what nginx logged."""

    model_config = ConfigDict(frozen=True)

    kind: str
    node: str
    node_ip: str
    nlb_address: str
    outcome: str  # "answered", "timed out", "failed", "did not finish"
    http_code: int | None
    logged_addresses: tuple[str, ...]
    logged_by: tuple[str, ...]
    expected: bool
    detail: str


def choose_attempts(
    *,
    nodes: Sequence[NodeInfo],
    health: Sequence[TargetHealth],
    interfaces: Sequence[NlbInterface],
    host: str,
    port: int,
) -> tuple[list[InClusterAttempt], list[str]]:
    """Return the attempts to make and, for each that cannot be made, why not.

    The target node is a Ready, healthy target in the zone with the fewest targets (where the
    request is most sure to come back to it); the other is a Ready node no target group has.
    """
    by_zone = {i.availability_zone: i.private_ip for i in interfaces}
    registered = {h.instance_id for h in health}
    healthy = {h.instance_id for h in health if h.state == "healthy"}
    ready = sorted((n for n in nodes if n.ready and n.internal_ip), key=lambda n: n.name)
    attempts: list[InClusterAttempt] = []
    skipped: list[str] = []

    def targets_in(zone: str | None) -> int:
        return sum(1 for n in nodes if n.zone == zone and n.instance_id in registered)

    candidates = [n for n in ready if n.instance_id in healthy and n.zone in by_zone]
    if candidates:
        node = min(candidates, key=lambda n: (targets_in(n.zone), n.name))
        attempts.append(_attempt(TARGET, node, by_zone[str(node.zone)], host, port))
    else:
        skipped.append("no Ready node is a healthy target in a zone where the NLB has an address")
    outsiders = [n for n in ready if n.instance_id not in registered]
    if outsiders and by_zone:
        node = outsiders[0]
        address = by_zone.get(str(node.zone)) or by_zone[min(by_zone)]
        attempts.append(_attempt(NON_TARGET, node, address, host, port))
    else:
        skipped.append("every Ready node is a target of the NLB: no node outside it to try from")
    return attempts, skipped


def _attempt(kind: str, node: NodeInfo, address: str, host: str, port: int) -> InClusterAttempt:
    label = f"in-cluster:{kind}"
    target = ProbeTarget(label=label, host=host, port=port, resolve_ip=address)
    return InClusterAttempt(
        kind=kind, node_name=node.name, node_ip=str(node.internal_ip), target=target
    )


def hairpin_expected(target_groups: Sequence[TargetGroupSettings]) -> bool:
    """Tell whether AWS drops a target's request to its own NLB: instance targets whose target
    group preserves client addresses (the default for instance targets)."""
    return any(
        g.target_type == "instance" and g.preserve_client_ip is not False for g in target_groups
    )


def judge_run(
    run: InClusterRun,
    *,
    token: str,
    pod_logs: Sequence[PodLog],
    target_groups: Sequence[TargetGroupSettings],
) -> InClusterFinding:
    """Say what the attempt got, what nginx logged for it, and whether that is AWS's behaviour."""
    attempt = run.attempt
    mark = user_agent(token, attempt.kind)
    hits = [(p, r) for p in pod_logs for r in p.records if r.http_user_agent == mark]
    logged = tuple(sorted({r.remote_addr for _p, r in hits}))
    logged_by = tuple(sorted({p.pod_name for p, _r in hits}))
    served_on = {p.node_name for p, _r in hits}
    code = run.output.http_code
    outcome = _outcome(run)
    hairpin = hairpin_expected(target_groups)
    own = attempt.node_ip
    where = f"{attempt.node_name} ({own}) via {attempt.target.resolve_ip}"
    if attempt.kind == TARGET:
        if outcome == "timed out":
            expected = hairpin
            detail = (
                f"from target {where}: timed out, as AWS documents for a target that reaches "
                "itself through its NLB while client IP preservation is on (hairpin)"
                if hairpin
                else f"from target {where}: timed out although the target group does not "
                "preserve client addresses, so no hairpin drop applies"
            )
        elif outcome == "answered" and not logged:
            expected = False
            detail = f"from target {where}: answered {code} but no nginx pod logged it"
        elif outcome == "answered":
            looped = own in logged and attempt.node_name in served_on
            expected = not (hairpin and looped)
            detail = (
                f"from target {where}: answered {code}, nginx on the node itself logged {own}: "
                "the NLB delivered a hairpin that AWS drops with client IP preservation"
                if not expected
                else f"from target {where}: answered {code}; nginx logged "
                f"{', '.join(logged)} ({', '.join(logged_by)})"
                + ("; the NLB chose another target of the zone" if hairpin else "")
            )
        else:
            expected = False
            detail = f"from target {where}: {outcome}{_error(run)}"
    else:
        answered = outcome == "answered" and bool(logged)
        expected = answered and (own in logged or not hairpin)
        if answered:
            detail = (
                f"from non-target {where}: answered {code}; nginx logged "
                f"{', '.join(logged)} ({', '.join(logged_by)})"
                + ("" if own in logged else f", not the node's own {own}")
            )
        elif outcome == "answered":
            detail = f"from non-target {where}: answered {code} but no nginx pod logged it"
        else:
            detail = (
                f"from non-target {where}: {outcome}{_error(run)}: in-cluster clients outside "
                "the target groups cannot use the NLB"
            )
    return InClusterFinding(
        kind=attempt.kind,
        node=attempt.node_name,
        node_ip=own,
        nlb_address=str(attempt.target.resolve_ip),
        outcome=outcome,
        http_code=code,
        logged_addresses=logged,
        logged_by=logged_by,
        expected=expected,
        detail=detail,
    )


def _outcome(run: InClusterRun) -> str:
    if not run.finished:
        return "did not finish"
    if run.exit_code == CURL_TIMED_OUT:
        return "timed out"
    if run.exit_code == 0 and run.output.http_code:
        return "answered"
    return "failed"


def _error(run: InClusterRun) -> str:
    parts = []
    if run.exit_code not in (None, 0):
        parts.append(f"curl exit {run.exit_code}")
    if run.output.error:
        parts.append(run.output.error)
    return f" ({'; '.join(parts)})" if parts else ""


_INTRO = (
    "A Job on a node's own network requests the NLB once from a node that is a target and "
    "once from one that is not. With instance targets and client IP preservation, AWS "
    "times out a request that the NLB sends back to the node it came from (hairpin): "
    "a client on a target node sees about 1 in N of its requests time out, N being the "
    "healthy targets its zone's NLB address sends to."
)


def in_cluster_markdown(findings: Sequence[InClusterFinding], skipped: Sequence[str]) -> str:
    """Return the report's section on in-cluster clients."""
    lines = [
        "## In-cluster clients",
        "",
        _INTRO,
        "",
        "| from | node | NLB address | got | nginx logged | as AWS documents |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        got = f"{f.outcome} {f.http_code}" if f.outcome == "answered" else f.outcome
        logged = ", ".join(f.logged_addresses) or "-"
        mark = "yes" if f.expected else "**no**"
        lines.append(
            f"| {f.kind} | {f.node} ({f.node_ip}) | {f.nlb_address} | {got} | {logged} | {mark} |"
        )
    lines += ["", *(f"- {f.detail}" for f in findings), *(f"- not tried: {s}" for s in skipped)]
    return "\n".join(lines) + "\n"


def in_cluster_check(findings: Sequence[InClusterFinding], skipped: Sequence[str]) -> CheckResult:
    """Pass unless an in-cluster attempt got what AWS's documented behaviour rules out (a
    hairpin timeout under client IP preservation is documented, so it passes)."""
    name = "in_cluster_clients"
    evidence = {
        "attempts": [f.model_dump() for f in findings],
        "skipped": list(skipped),
    }
    unexpected = [f for f in findings if not f.expected]
    if unexpected:
        return CheckResult(name, False, "; ".join(f.detail for f in unexpected), evidence)
    said = [f.detail for f in findings] + [f"not tried: {s}" for s in skipped]
    return CheckResult(name, True, "; ".join(said) or "no in-cluster attempt", evidence)
