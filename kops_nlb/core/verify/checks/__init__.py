"""The verification checks: does the NLB deliver the bastion's own address to nginx?

Each check is a pure judgement over plain facts (``kops_nlb.core.verify.evidence``) and returns a
``CheckResult`` that names itself, says in one sentence what it saw, and carries the numbers
behind it. ``run_checks`` runs them all so that a failed run lists every broken property at
once; the flow raises once when ``failed`` is not empty.

The heart is ``client_ip_preserved``: with ``externalTrafficPolicy: Local`` and the NLB's
instance targets, the pods log the bastion's private address; with ``Cluster``, kube-proxy
SNATs to the receiving node, so the logs show node addresses instead, which the check names.
"""

from __future__ import annotations

from collections.abc import Iterable

from kops_nlb.core.verify.checks.control import negative_control
from kops_nlb.core.verify.checks.hairpin import probe_source_not_a_target
from kops_nlb.core.verify.checks.infrastructure import (
    nlb_shape,
    service_not_drifted,
    target_groups_deliver_client_ip,
    targets_healthy,
)
from kops_nlb.core.verify.checks.summary import evidence_summary
from kops_nlb.core.verify.checks.traffic import (
    client_ip_preserved,
    probes_answered_ok,
    probes_logged_once,
    spread_over_pods,
)
from kops_nlb.core.verify.checks.verdict import CheckResult
from kops_nlb.core.verify.evidence import VerificationFacts

__all__ = [
    "CheckResult",
    "client_ip_preserved",
    "evidence_summary",
    "failed",
    "negative_control",
    "nlb_shape",
    "probe_source_not_a_target",
    "probes_answered_ok",
    "probes_logged_once",
    "run_checks",
    "service_not_drifted",
    "spread_over_pods",
    "target_groups_deliver_client_ip",
    "targets_healthy",
]


def run_checks(facts: VerificationFacts) -> list[CheckResult]:
    """Return the result of every check, in report order (the negative control last, when the
    run has one)."""
    results = [
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
            expected_annotations=facts.expected_annotations or None,
        ),
    ]
    if facts.bastion_instance_id:
        results.append(
            probe_source_not_a_target(
                targets=facts.targets,
                source_instance_id=facts.bastion_instance_id,
                source_ip=facts.bastion_ip,
            )
        )
    if facts.target_groups:
        results.append(
            target_groups_deliver_client_ip(
                groups=facts.target_groups,
                policy=facts.service.external_traffic_policy if facts.service else None,
                nginx_proxy_protocol=facts.nginx_proxy_protocol,
            )
        )
    if facts.negative_control is not None:
        results.append(negative_control(facts.negative_control))
    return results


def failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Return the results that did not pass, in their order."""
    return [result for result in results if not result.passed]
