"""Defaulting and validation the real API server applies to the kinds the product writes.

Pure functions over plain dicts: they fill defaults in place and return the offending fields
(:class:`FieldCause`) instead of raising, so the backend can name the object in its error.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from typing import Any

from sandbox.k8s.exceptions import FieldCause

SERVICE_CIDR = ipaddress.ip_network("100.64.0.0/13")
NODE_PORT_RANGE = range(30000, 32768)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
TRAFFIC_POLICIES = ("Cluster", "Local")
PROTOCOLS = ("TCP", "UDP", "SCTP")


def _required(field: str) -> FieldCause:
    return FieldCause(field, "FieldValueRequired", "Required value")


def _invalid(field: str, value: Any, why: str) -> FieldCause:
    return FieldCause(field, "FieldValueInvalid", f"Invalid value: {value!r}: {why}")


def _unsupported(field: str, value: Any, allowed: tuple[str, ...]) -> FieldCause:
    choices = ", ".join(f'"{choice}"' for choice in allowed)
    return FieldCause(
        field,
        "FieldValueNotSupported",
        f"Unsupported value: {value!r}: supported values: {choices}",
    )


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: dict[str, Any], field: str = "spec") -> list[FieldCause]:
    """Fill a PodSpec's defaults in place and return what is invalid about it."""
    causes: list[FieldCause] = []
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(_required(f"{field}.containers"))
        return causes
    names: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{field}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(_invalid(where, container, "must be an object"))
            continue
        name = container.get("name")
        if not name:
            causes.append(_required(f"{where}.name"))
        elif name in names:
            causes.append(
                FieldCause(f"{where}.name", "FieldValueDuplicate", f"Duplicate value: {name!r}")
            )
        else:
            names.add(name)
        image = container.get("image")
        if not image:
            causes.append(_required(f"{where}.image"))
        else:
            container.setdefault("imagePullPolicy", _image_pull_policy(image))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return causes


def default_pod(pod: dict[str, Any]) -> list[FieldCause]:
    """Fill a new Pod's defaults and initial status in place."""
    spec = pod.setdefault("spec", {})
    causes = default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return causes


def default_deployment(deployment: dict[str, Any]) -> list[FieldCause]:
    """Fill a Deployment's defaults in place and return what is invalid about it."""
    causes: list[FieldCause] = []
    spec = deployment.setdefault("spec", {})
    replicas = spec.setdefault("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(_invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    )
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(_required("spec.template"))
        return causes
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(_required("spec.selector"))
    elif not selector_matches(selector, template_labels):
        causes.append(
            _invalid(
                "spec.template.metadata.labels",
                template_labels,
                "`selector` does not match template `labels`",
            )
        )
    causes += default_pod_spec(template.setdefault("spec", {}), "spec.template.spec")
    return causes


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy a LabelSelector object (matchLabels and matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def default_namespace(namespace: dict[str, Any]) -> None:
    """Fill a new Namespace's defaults and status in place."""
    name = namespace["metadata"]["name"]
    labels = namespace["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", name)
    namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    namespace["status"] = {"phase": "Active"}


def allocate_cluster_ip(used: set[str], rng: random.Random) -> str:
    """Return a free address of the service CIDR, picked at random like the real allocator."""
    size = SERVICE_CIDR.num_addresses
    for _ in range(10_000):
        candidate = str(SERVICE_CIDR.network_address + rng.randrange(2, size - 1))
        if candidate not in used:
            return candidate
    raise RuntimeError("service CIDR exhausted")


def allocate_node_port(used: set[int], rng: random.Random) -> int:
    """Return a free port of 30000-32767, picked at random like the real allocator."""
    free = [port for port in NODE_PORT_RANGE if port not in used]
    if not free:
        raise RuntimeError("node port range exhausted")
    return rng.choice(free)


def _needs_node_ports(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check_port(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def default_service(
    service: dict[str, Any],
    old: Mapping[str, Any] | None,
    *,
    used_cluster_ips: set[str],
    used_node_ports: set[int],
    rng: random.Random,
) -> list[FieldCause]:
    """Fill a Service's defaults and allocations in place; return what is invalid about it.

    ``old`` is the stored Service on an update: its clusterIP, nodePorts and
    healthCheckNodePort are kept when the new spec leaves them out, and fields that only
    make sense for the old type or policy are dropped when they were merely carried over.
    ``used_*`` must not contain this Service's own allocations.
    """
    causes: list[FieldCause] = []
    spec = service.setdefault("spec", {})
    old_spec: Mapping[str, Any] = (old or {}).get("spec") or {}
    service_type = spec.setdefault("type", "ClusterIP")
    if service_type not in SERVICE_TYPES:
        return [_unsupported("spec.type", service_type, SERVICE_TYPES)]
    spec.setdefault("sessionAffinity", "None")

    ports = spec.get("ports")
    if service_type != "ExternalName" and (not isinstance(ports, list) or not ports):
        causes.append(_required("spec.ports"))
        ports = []
    ports = ports or []
    seen_names: set[str] = set()
    for index, port in enumerate(ports):
        where = f"spec.ports[{index}]"
        if not isinstance(port, dict):
            causes.append(_invalid(where, port, "must be an object"))
            continue
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            causes.append(
                _invalid(f"{where}.port", number, "must be between 1 and 65535, inclusive")
            )
        protocol = port.setdefault("protocol", "TCP")
        if protocol not in PROTOCOLS:
            causes.append(_unsupported(f"{where}.protocol", protocol, PROTOCOLS))
        port.setdefault("targetPort", number)
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(_required(f"{where}.name"))
        elif name and name in seen_names:
            causes.append(
                FieldCause(f"{where}.name", "FieldValueDuplicate", f"Duplicate value: {name!r}")
            )
        elif name:
            seen_names.add(name)

    if service_type == "ExternalName":
        if not spec.get("externalName"):
            causes.append(_required("spec.externalName"))
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)
    else:
        old_ip = old_spec.get("clusterIP") if old_spec.get("type") != "ExternalName" else None
        cluster_ip = spec.get("clusterIP") or old_ip
        if old_ip and cluster_ip != old_ip:
            causes.append(_invalid("spec.clusterIP", cluster_ip, "field is immutable"))
        elif not cluster_ip:
            cluster_ip = allocate_cluster_ip(used_cluster_ips, rng)
        elif cluster_ip != "None" and not old_ip:
            try:
                ipaddress.IPv4Address(cluster_ip)
            except ValueError:
                causes.append(_invalid("spec.clusterIP", cluster_ip, "must be a valid IP address"))
            if cluster_ip in used_cluster_ips:
                causes.append(
                    _invalid("spec.clusterIP", cluster_ip, "provided IP is already allocated")
                )
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")

    taken = set(used_node_ports)
    old_ports = {
        (port.get("port"), port.get("protocol", "TCP")): port.get("nodePort")
        for port in old_spec.get("ports") or []
        if isinstance(port, dict) and port.get("nodePort")
    }
    if _needs_node_ports(spec):
        policy = spec.setdefault("externalTrafficPolicy", "Cluster")
        if policy not in TRAFFIC_POLICIES:
            causes.append(_unsupported("spec.externalTrafficPolicy", policy, TRAFFIC_POLICIES))
        if service_type == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        else:
            spec.pop("allocateLoadBalancerNodePorts", None)
        for index, port in enumerate(ports):
            if not isinstance(port, dict):
                continue
            node_port = port.get("nodePort") or old_ports.get(
                (port.get("port"), port.get("protocol"))
            )
            if not node_port:
                node_port = allocate_node_port(taken, rng)
            elif not isinstance(node_port, int) or node_port not in NODE_PORT_RANGE:
                causes.append(
                    _invalid(
                        f"spec.ports[{index}].nodePort",
                        node_port,
                        "provided port is not in the valid range. The range of valid ports is 30000-32767",
                    )
                )
            elif node_port in taken:
                causes.append(
                    _invalid(
                        f"spec.ports[{index}].nodePort",
                        node_port,
                        "provided port is already allocated",
                    )
                )
            port["nodePort"] = node_port
            taken.add(node_port)
    else:
        for index, port in enumerate(ports):
            if isinstance(port, dict) and port.get("nodePort"):
                if old_ports.get((port.get("port"), port.get("protocol"))) == port["nodePort"]:
                    del port["nodePort"]  # carried over from a NodePort/LoadBalancer past
                else:
                    causes.append(
                        _invalid(
                            f"spec.ports[{index}].nodePort",
                            port["nodePort"],
                            "may not be used when `type` is 'ClusterIP'",
                        )
                    )
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
        elif spec.get("externalTrafficPolicy"):
            causes.append(
                _invalid(
                    "spec.externalTrafficPolicy",
                    spec["externalTrafficPolicy"],
                    "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
                )
            )
        spec.pop("allocateLoadBalancerNodePorts", None)

    health = spec.get("healthCheckNodePort")
    if _needs_health_check_port(spec):
        health = health or old_spec.get("healthCheckNodePort")
        if not health:
            health = allocate_node_port(taken, rng)
        elif health in taken and health != old_spec.get("healthCheckNodePort"):
            causes.append(
                _invalid("spec.healthCheckNodePort", health, "provided port is already allocated")
            )
        spec["healthCheckNodePort"] = health
    elif health:
        if health == old_spec.get("healthCheckNodePort"):
            del spec["healthCheckNodePort"]  # released when the policy or type no longer needs it
        else:
            causes.append(
                _invalid(
                    "spec.healthCheckNodePort",
                    health,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                )
            )
    return causes


def service_allocations(service: Mapping[str, Any]) -> tuple[set[str], set[int]]:
    """Return the cluster IPs and node ports (incl. health check port) a Service holds."""
    spec = service.get("spec") or {}
    ips = {ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"}
    ports = {
        port["nodePort"]
        for port in spec.get("ports") or []
        if isinstance(port, dict) and port.get("nodePort")
    }
    if spec.get("healthCheckNodePort"):
        ports.add(spec["healthCheckNodePort"])
    return ips, ports
