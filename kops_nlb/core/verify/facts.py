"""From what discovery found to what the checks judge: probe targets and verification facts."""

from __future__ import annotations

from collections.abc import Sequence

from kops_nlb.core.nlb import NlbInfo, NlbInterface, TargetHealth
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.evidence import (
    NlbFacts,
    PodLog,
    ServiceFacts,
    TargetFacts,
    VerificationFacts,
)
from kops_nlb.core.verify.probe_script import ProbeTarget, parse_probe_output
from kops_nlb.core.workload import NodeInfo, ServiceInfo


def probe_targets(nlb: NlbInfo, interfaces: Sequence[NlbInterface], port: int) -> list[ProbeTarget]:
    """Return the probe's targets: the NLB's DNS name, then each zone's address, by zone."""
    return [ProbeTarget(label="dns", host=nlb.dns_name, port=port)] + [
        ProbeTarget(
            label=f"az:{i.availability_zone}",
            host=nlb.dns_name,
            port=port,
            resolve_ip=i.private_ip,
        )
        for i in sorted(interfaces, key=lambda i: i.availability_zone)
    ]


def verification_facts(
    *,
    spec: EnvironmentSpec,
    token: str,
    bastion_ip: str,
    probe_stdout: str,
    probe_truncated: bool,
    expected_probes: int,
    pod_logs: Sequence[PodLog],
    nlb: NlbInfo,
    interfaces: Sequence[NlbInterface],
    health: Sequence[TargetHealth],
    nodes: Sequence[NodeInfo],
    service: ServiceInfo,
) -> VerificationFacts:
    """Gather everything the checks judge into one value."""
    node_names = {n.instance_id: n.name for n in nodes if n.instance_id}
    node_ips = {n.name: n.internal_ip for n in nodes if n.internal_ip}
    return VerificationFacts(
        token=token,
        bastion_ip=bastion_ip,
        probes=parse_probe_output(probe_stdout),
        pod_logs=list(pod_logs),
        nlb=NlbFacts(
            type=nlb.type,
            scheme=nlb.scheme,
            state=nlb.state,
            dns_name=nlb.dns_name,
            name=nlb.name,
            addresses={i.availability_zone: i.private_ip for i in interfaces},
        ),
        targets=[
            TargetFacts(
                instance_id=t.instance_id,
                node_name=node_names.get(t.instance_id),
                state=t.state,
                reason=t.reason,
                description=t.description,
                node_ip=node_ips.get(node_names.get(t.instance_id, "")),
                target_group=t.target_group,
            )
            for t in health
        ],
        service=ServiceFacts(
            namespace=spec.namespace,
            name=spec.service_name,
            type=service.type or "",
            external_traffic_policy=service.external_traffic_policy,
            annotations=service.annotations,
            ingress_hostname=service.hostname,
        ),
        expected_policy=spec.external_traffic_policy,
        expected_internal=spec.internal,
        node_ips=node_ips,
        expected_probes=expected_probes,
        probe_output_truncated=probe_truncated,
    )
