"""From what discovery found to what the checks judge: probe targets and verification facts.

One probe run serves both Services when the run has a negative control: the canary's targets
carry labels starting with ``canary:``, and since request numbers are unique in a run, each
logged line belongs to the Service whose probe sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kops_nlb.core.manifests import service_annotations
from kops_nlb.core.nlb import NlbInfo, NlbInterface, TargetGroupSettings, TargetHealth
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.evidence import (
    NlbFacts,
    PodLog,
    ProbeResult,
    ServiceFacts,
    TargetFacts,
    TargetGroupFacts,
    VerificationFacts,
)
from kops_nlb.core.verify.probe_script import ProbeTarget, parse_probe_output, probe_seq
from kops_nlb.core.workload import NodeInfo, ServiceInfo

CANARY_LABEL_PREFIX = "canary:"


@dataclass(frozen=True)
class ServiceDiscovery:
    """What discovery found for one LoadBalancer Service: the Service and its NLB."""

    service: ServiceInfo
    nlb: NlbInfo
    interfaces: Sequence[NlbInterface]
    health: Sequence[TargetHealth]
    target_groups: Sequence[TargetGroupSettings] = ()


def probe_targets(
    nlb: NlbInfo, interfaces: Sequence[NlbInterface], port: int, *, prefix: str = ""
) -> list[ProbeTarget]:
    """Return the probe's targets: the NLB's DNS name, then each zone's address, by zone."""
    return [ProbeTarget(label=f"{prefix}dns", host=nlb.dns_name, port=port)] + [
        ProbeTarget(
            label=f"{prefix}az:{i.availability_zone}",
            host=nlb.dns_name,
            port=port,
            resolve_ip=i.private_ip,
        )
        for i in sorted(interfaces, key=lambda i: i.availability_zone)
    ]


def canary_probe_targets(canary: ServiceDiscovery, port: int) -> list[ProbeTarget]:
    """Return the negative control's probe targets, labelled ``canary:...``."""
    return probe_targets(canary.nlb, canary.interfaces, port, prefix=CANARY_LABEL_PREFIX)


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
    target_groups: Sequence[TargetGroupSettings] = (),
    canary: ServiceDiscovery | None = None,
    canary_expected_probes: int | None = None,
    bastion_instance_id: str | None = None,
) -> VerificationFacts:
    """Gather everything the checks judge into one value (the canary's facts nested in it)."""
    probes = parse_probe_output(probe_stdout)
    main_probes = [p for p in probes if not p.label.startswith(CANARY_LABEL_PREFIX)]
    canary_probes = [p for p in probes if p.label.startswith(CANARY_LABEL_PREFIX)]
    canary_seqs = {p.seq for p in canary_probes}
    main = _service_facts(
        spec=spec,
        token=token,
        bastion_ip=bastion_ip,
        probes=main_probes,
        pod_logs=_marked_lines_only(pod_logs, token, keep=lambda seq: seq not in canary_seqs),
        found=ServiceDiscovery(service, nlb, interfaces, health, target_groups),
        nodes=nodes,
        expected_probes=expected_probes,
        probe_truncated=probe_truncated,
    )
    main = replace(main, bastion_instance_id=bastion_instance_id)
    if canary is None:
        return main
    canary_spec = spec.negative_control_spec()
    control = _service_facts(
        spec=canary_spec,
        token=token,
        bastion_ip=bastion_ip,
        probes=canary_probes,
        pod_logs=_marked_lines_only(
            pod_logs, token, keep=lambda seq: seq in canary_seqs, unmarked=False
        ),
        found=canary,
        nodes=nodes,
        expected_probes=canary_expected_probes,
        probe_truncated=probe_truncated,
    )
    return replace(main, negative_control=control)


def _service_facts(
    *,
    spec: EnvironmentSpec,
    token: str,
    bastion_ip: str,
    probes: Sequence[ProbeResult],
    pod_logs: Sequence[PodLog],
    found: ServiceDiscovery,
    nodes: Sequence[NodeInfo],
    expected_probes: int | None,
    probe_truncated: bool,
) -> VerificationFacts:
    node_names = {n.instance_id: n.name for n in nodes if n.instance_id}
    # ip targets are pods: a target's id is then a pod's address, placed on the pod's node.
    node_names.update({p.pod_ip: p.node_name for p in pod_logs if p.pod_ip and p.node_name})
    node_ips = {n.name: n.internal_ip for n in nodes if n.internal_ip}
    nlb, service = found.nlb, found.service
    return VerificationFacts(
        token=token,
        bastion_ip=bastion_ip,
        probes=list(probes),
        pod_logs=list(pod_logs),
        nlb=NlbFacts(
            type=nlb.type,
            scheme=nlb.scheme,
            state=nlb.state,
            dns_name=nlb.dns_name,
            name=nlb.name,
            addresses={i.availability_zone: i.private_ip for i in found.interfaces},
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
            for t in found.health
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
        expected_annotations=service_annotations(spec),
        nginx_proxy_protocol=spec.proxy_protocol_v2,
        node_ips=node_ips,
        expected_probes=expected_probes,
        probe_output_truncated=probe_truncated,
        target_groups=[
            TargetGroupFacts(
                name=g.name,
                target_type=g.target_type,
                preserve_client_ip=g.preserve_client_ip,
                proxy_protocol_v2=g.proxy_protocol_v2,
                protocol=g.protocol,
            )
            for g in found.target_groups
        ],
    )


def _marked_lines_only(
    pod_logs: Sequence[PodLog], token: str, *, keep: Callable[[int], bool], unmarked: bool = True
) -> list[PodLog]:
    """Return the pod logs with only the probe lines whose request number ``keep`` accepts
    (and the unmarked lines when ``unmarked``)."""

    def wanted(user_agent: str | None, path: str | None) -> bool:
        seq = probe_seq(token=token, user_agent=user_agent, path=path)
        return unmarked if seq is None else keep(seq)

    return [
        replace(
            log,
            records=tuple(r for r in log.records if wanted(r.http_user_agent, r.path)),
        )
        for log in pod_logs
    ]
