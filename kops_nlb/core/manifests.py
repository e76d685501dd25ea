"""Kubernetes manifests of the procedure, and what must change to reach them (pure)."""

from __future__ import annotations

from typing import Any

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import (
    LBC_PROXY_PROTOCOL_ANNOTATION,
    LBC_SCHEME_ANNOTATION,
    LBC_TARGET_TYPE_ANNOTATION,
    MANAGED_BY_LABEL,
    NLB_INTERNAL_ANNOTATION,
    NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION,
    NLB_TYPE_ANNOTATION,
    PROJECT,
)
from kops_nlb.core.nginx_config import readiness_port, site_volume
from kops_nlb.core.spec import EnvironmentSpec

MANAGED_BY = PROJECT
ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def app_labels(spec: EnvironmentSpec) -> dict[str, str]:
    """Labels that select the nginx pods."""
    return {"app": spec.deployment_name}


def service_annotations(spec: EnvironmentSpec) -> dict[str, str]:
    """Annotations that make the spec's controller build an (internal) NLB in the spec's mode.

    The cloud controller reads ``aws-load-balancer-type: nlb`` and ``-internal``; the AWS Load
    Balancer Controller takes only Services typed ``external`` (the cloud controller then leaves
    them alone) and reads the target type, the scheme and ``-proxy-protocol: "*"``. Both read
    the target-group-attributes annotation.
    """
    if spec.load_balancer_controller == "aws-load-balancer-controller":
        annotations = {
            NLB_TYPE_ANNOTATION: "external",
            LBC_TARGET_TYPE_ANNOTATION: spec.target_type,
            LBC_SCHEME_ANNOTATION: "internal" if spec.internal else "internet-facing",
        }
        if spec.proxy_protocol_v2:
            annotations[LBC_PROXY_PROTOCOL_ANNOTATION] = "*"
    else:
        annotations = {NLB_TYPE_ANNOTATION: "nlb"}
        if spec.internal:
            annotations[NLB_INTERNAL_ANNOTATION] = "true"
    if attributes := target_group_attributes(spec):
        annotations[NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION] = attributes
    return annotations


def target_group_attributes(spec: EnvironmentSpec) -> str | None:
    """The target-group-attributes value for the spec, or None for AWS's defaults (the AWS
    Load Balancer Controller asks for proxy protocol with its own annotation)."""
    pairs = []
    if spec.preserve_client_ip is not None:
        pairs.append(f"preserve_client_ip.enabled={str(spec.preserve_client_ip).lower()}")
    if spec.proxy_protocol_v2 and spec.load_balancer_controller == "cloud-controller":
        pairs.append("proxy_protocol_v2.enabled=true")
    return ",".join(pairs) or None


def spread_constraints(labels: dict[str, str]) -> list[dict[str, Any]]:
    """One nginx pod per zone before a second in any (the probe sends to each zone's NLB
    address, and under ``Local`` a zone without a pod has no healthy target), then spread over
    the nodes of a zone.

    Only pods of the same revision count (``pod-template-hash``): counting the old ones during a
    rolling update can leave every new pod in one zone. Zones whose nodes all carry a taint the
    pod does not tolerate (an unreachable node) do not count, so a lost zone does not block
    scheduling.
    """
    revision = ["pod-template-hash"]
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE_LABEL,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": labels},
            "matchLabelKeys": revision,
            "nodeTaintsPolicy": "Honor",
        },
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_LABEL,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
            "matchLabelKeys": revision,
        },
    ]


def nginx_deployment(spec: EnvironmentSpec) -> dict[str, Any]:
    """The nginx Deployment (with the PROXY-aware site mounted when proxy protocol is on)."""
    labels = app_labels(spec)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec.deployment_name,
            "namespace": spec.namespace,
            "labels": {**labels, MANAGED_BY_LABEL: MANAGED_BY},
        },
        "spec": {
            "replicas": spec.nginx_replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": spec.nginx_image,
                            "ports": [{"containerPort": spec.container_port, "protocol": "TCP"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": readiness_port(spec)},
                                "periodSeconds": 5,
                            },
                        }
                    ],
                    "topologySpreadConstraints": spread_constraints(labels),
                },
            },
        },
    }
    if spec.proxy_protocol_v2:
        volume, mount = site_volume(spec)
        pod = deployment["spec"]["template"]["spec"]
        pod["volumes"] = [volume]
        pod["containers"][0]["volumeMounts"] = [mount]
    return deployment


def nlb_service(spec: EnvironmentSpec) -> dict[str, Any]:
    """The LoadBalancer Service annotated for an NLB."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": spec.service_name,
            "namespace": spec.namespace,
            "labels": {**app_labels(spec), MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": service_annotations(spec),
        },
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": spec.external_traffic_policy,
            "selector": app_labels(spec),
            "ports": [
                {
                    "name": "http",
                    "protocol": "TCP",
                    "port": spec.service_port,
                    "targetPort": spec.container_port,
                }
            ],
        },
    }


def deployment_patch(existing: dict[str, Any], spec: EnvironmentSpec) -> dict[str, Any] | None:
    """Return the merge patch that brings an existing Deployment to the spec, or None."""
    desired = nginx_deployment(spec)
    current_spec = existing.get("spec") or {}
    current_containers = ((current_spec.get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or [{}]
    patch: dict[str, Any] = {}
    if current_spec.get("replicas") != spec.nginx_replicas:
        patch["replicas"] = spec.nginx_replicas
    current = current_containers[0]
    ports = [p.get("containerPort") for p in current.get("ports") or []]
    mounts = [m.get("mountPath") for m in current.get("volumeMounts") or []]
    wanted_mounts = [
        m["mountPath"]
        for m in desired["spec"]["template"]["spec"]["containers"][0].get("volumeMounts", [])
    ]
    current_pod = (current_spec.get("template") or {}).get("spec") or {}
    wanted_spread = desired["spec"]["template"]["spec"]["topologySpreadConstraints"]
    if (
        current.get("image") != spec.nginx_image
        or ports != [spec.container_port]
        or mounts != wanted_mounts
        or not _same_spread(current_pod.get("topologySpreadConstraints"), wanted_spread)
    ):
        template = desired["spec"]["template"]
        # A merge patch keeps what it leaves out: a mount the spec no longer wants is nulled.
        if current_pod.get("volumes") and "volumes" not in template["spec"]:
            template["spec"]["volumes"] = None
        if current.get("volumeMounts") and not wanted_mounts:
            template["spec"]["containers"][0]["volumeMounts"] = None
        patch["template"] = template
    return {"spec": patch} if patch else None


def _same_spread(current: list[dict[str, Any]] | None, wanted: list[dict[str, Any]]) -> bool:
    """Whether the current constraints are the wanted ones (fields the server added aside)."""
    if not current or len(current) != len(wanted):
        return False
    return all({k: c.get(k) for k in w} == w for c, w in zip(current, wanted, strict=True))


def service_patch(existing: dict[str, Any], spec: EnvironmentSpec) -> dict[str, Any] | None:
    """Return the merge patch that brings an existing Service to the spec, or None.

    Annotations the user or other tools added are kept; only ours are set. Raises ConflictError
    when the Service belongs to the other controller: changing an existing Service's
    ``aws-load-balancer-type`` leaks its load balancer (the AWS Load Balancer Controller's docs
    say to delete the Service and create it again).
    """
    desired = nlb_service(spec)
    patch: dict[str, Any] = {}
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    wanted = service_annotations(spec)
    current_type = annotations.get(NLB_TYPE_ANNOTATION)
    if current_type is not None and current_type != wanted[NLB_TYPE_ANNOTATION]:
        raise ConflictError(
            f"service {spec.namespace}/{spec.service_name} has aws-load-balancer-type "
            f"{current_type!r}, the spec wants {wanted[NLB_TYPE_ANNOTATION]!r}: changing it on an "
            "existing Service leaks its load balancer; run teardown (or delete the Service) first"
        )
    changed_annotations: dict[str, str | None] = {
        k: v for k, v in wanted.items() if annotations.get(k) != v
    }
    proxy = LBC_PROXY_PROTOCOL_ANNOTATION
    if proxy not in wanted and proxy in annotations:
        changed_annotations[proxy] = None
    if not spec.internal and NLB_INTERNAL_ANNOTATION in annotations:
        changed_annotations[NLB_INTERNAL_ANNOTATION] = None
    # Removing it asks for nothing (the target group keeps its last values); verify reads them.
    attributes = NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION
    if attributes not in wanted and attributes in annotations:
        changed_annotations[attributes] = None
    if changed_annotations:
        patch["metadata"] = {"annotations": changed_annotations}
    current = existing.get("spec") or {}
    spec_patch: dict[str, Any] = {}
    if current.get("type") != "LoadBalancer":
        spec_patch["type"] = "LoadBalancer"
    if current.get("externalTrafficPolicy") != spec.external_traffic_policy:
        spec_patch["externalTrafficPolicy"] = spec.external_traffic_policy
    if current.get("selector") != desired["spec"]["selector"]:
        spec_patch["selector"] = desired["spec"]["selector"]
    wanted_ports = [(spec.service_port, spec.container_port, "TCP")]
    current_ports = [
        (p.get("port"), p.get("targetPort"), p.get("protocol", "TCP"))
        for p in current.get("ports") or []
    ]
    if current_ports != wanted_ports:
        # Keep allocated nodePorts where the port stays the same.
        node_ports = {p.get("port"): p.get("nodePort") for p in current.get("ports") or []}
        ports = []
        for port in desired["spec"]["ports"]:
            node_port = node_ports.get(port["port"])
            ports.append({**port, "nodePort": node_port} if node_port else port)
        spec_patch["ports"] = ports
    if spec_patch:
        patch["spec"] = spec_patch
    return patch or None
