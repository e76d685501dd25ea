"""Checks of what carries the traffic: the NLB's shape, its targets, the Service's spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kops_nlb.core.naming import NLB_INTERNAL_ANNOTATION, NLB_TYPE_ANNOTATION
from kops_nlb.core.verify.checks.verdict import CheckResult, count, listing
from kops_nlb.core.verify.delivery import delivered_address
from kops_nlb.core.verify.evidence import (
    NlbFacts,
    PodLog,
    ServiceFacts,
    TargetFacts,
    TargetGroupFacts,
    TrafficPolicy,
)


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
                "node should pass: " + listing(_describe_target(t) for t in bad)
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
            f"{count(len(bad), 'target')} on nodes running nginx not healthy: "
            + listing(_describe_target(t) for t in bad)
        )
    if missing:
        problems.append("nodes running nginx that are not targets: " + listing(missing))
    if not any(t.state == "healthy" for t in targets):
        problems.append("no target is healthy")
    note = ""
    if expected_unhealthy:
        note = (
            f"; {count(len(expected_unhealthy), 'target')} on nodes without an nginx pod not "
            "healthy, as expected under Local: "
            + listing(_describe_target(t) for t in expected_unhealthy)
        )
    if problems:
        return CheckResult(name, False, "; ".join(problems) + note, evidence)
    detail = f"the {len(with_pod)} targets on nodes running nginx are healthy" + note
    return CheckResult(name, True, detail, evidence)


def target_groups_deliver_client_ip(
    *,
    groups: Sequence[TargetGroupFacts],
    policy: str | None,
    nginx_proxy_protocol: bool | None = None,
) -> CheckResult:
    """Check that every target group's real settings deliver the client's address to nginx.

    It reads what AWS has, not what the Service asks for: the cloud controller keeps a target
    group attribute's last value when its annotation is removed, so a Service that looks right
    can sit behind a target group that hands nginx the NLB's own addresses. With
    ``nginx_proxy_protocol`` (whether nginx was configured to listen with ``proxy_protocol``) it
    also checks that nginx and each target group agree on the PROXY header.
    """
    name = "target_groups_deliver_client_ip"
    if not groups:
        return CheckResult(name, False, "the NLB has no target group to read", {})
    if nginx_proxy_protocol is not None:
        mismatched = [g for g in groups if g.proxy_protocol_v2 != nginx_proxy_protocol]
        if mismatched:
            evidence = {
                "nginx_proxy_protocol": nginx_proxy_protocol,
                "target_groups": [
                    {"name": g.name, "proxy_protocol_v2": g.proxy_protocol_v2} for g in mismatched
                ],
            }
            return CheckResult(
                name, False, listing(_proxy_mismatch(g) for g in mismatched), evidence
            )
    deliveries = {
        g.name: delivered_address(
            target_type=g.target_type,
            preserve_client_ip=g.preserve_client_ip,
            proxy_protocol_v2=g.proxy_protocol_v2,
            policy=policy or "",
            protocol=g.protocol,
        )
        for g in groups
    }
    evidence = {
        "policy": policy,
        "target_groups": [
            {
                "name": g.name,
                "target_type": g.target_type,
                "preserve_client_ip": g.preserve_client_ip,
                "proxy_protocol_v2": g.proxy_protocol_v2,
                "delivers": deliveries[g.name].kind,
            }
            for g in groups
        ],
    }
    wrong = [g for g in groups if deliveries[g.name].kind != "client"]
    if wrong:
        detail = "target groups that do not deliver the client's address: " + listing(
            f"{g.name} ({g.target_type} targets) delivers {deliveries[g.name].kind} addresses: "
            f"{deliveries[g.name].why}"
            for g in wrong
        )
        return CheckResult(name, False, detail, evidence)
    detail = listing(f"{g.name}: {deliveries[g.name].why}" for g in groups)
    return CheckResult(name, True, detail, evidence)


def _proxy_mismatch(group: TargetGroupFacts) -> str:
    if group.proxy_protocol_v2:
        return (
            f"{group.name} sends a PROXY v2 header (proxy_protocol_v2.enabled is true) but nginx "
            "is not configured for proxy protocol: nginx answers the binary header with 400 and "
            "never sees the client's address (the attribute outlives its annotation: set it "
            "false on the target group, or turn proxy_protocol_v2 on in the spec)"
        )
    return (
        f"nginx is configured for proxy protocol but {group.name} sends no PROXY header "
        "(proxy_protocol_v2.enabled is false): nginx closes every connection as a broken header"
    )


def service_not_drifted(
    *,
    service: ServiceFacts | None,
    expected_policy: TrafficPolicy,
    internal: bool = True,
    nlb_dns: str | None = None,
    expected_annotations: Mapping[str, str] | None = None,
) -> CheckResult:
    """Check that the Service still asks for an (internal) NLB with the expected traffic policy.

    With ``nlb_dns`` it also checks that the Service's ingress hostname is that NLB's name; with
    ``expected_annotations`` (the spec's mode) it checks those instead of the cloud controller's.
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
            key: annotations.get(key) for key in (NLB_TYPE_ANNOTATION, NLB_INTERNAL_ANNOTATION)
        },
        "ingress_hostname": service.ingress_hostname,
    }
    problems = []
    if service.type != "LoadBalancer":
        problems.append(f"type is {service.type!r} (want 'LoadBalancer')")
    if expected_annotations:
        evidence["annotations"] = {key: annotations.get(key) for key in expected_annotations}
        for key, want in expected_annotations.items():
            problems.extend(_annotation_problem(annotations, key, want))
    else:
        problems.extend(_cloud_controller_problems(annotations, internal=internal))
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


def _cloud_controller_problems(annotations: Mapping[str, str], *, internal: bool) -> list[str]:
    problems = _annotation_problem(annotations, NLB_TYPE_ANNOTATION, "nlb")
    if internal:
        problems.extend(_annotation_problem(annotations, NLB_INTERNAL_ANNOTATION, "true"))
    elif annotations.get(NLB_INTERNAL_ANNOTATION, "false") != "false":
        value = annotations[NLB_INTERNAL_ANNOTATION]
        problems.append(f"annotation {NLB_INTERNAL_ANNOTATION} is {value!r} (want it absent)")
    return problems


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


def _dns_key(name: str) -> str:
    return name.lower().rstrip(".")
