"""One ``kops validate cluster`` attempt: instance groups, instances, Nodes and pods, as
pkg/validation words its failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.kops.cluster_spec import internal_role, is_control_plane, role_lower
from sandbox.kops.kube import CONTROL_PLANE_LABEL, instance_id_of, node_ready_status

CRITICAL_PRIORITIES = ("system-cluster-critical", "system-node-critical")
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass
class ValidationResult:
    """One validation attempt, in the shape of kops's ValidationCluster."""

    failures: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the object ``-o json`` prints (empty lists omitted)."""
        out: dict[str, Any] = {}
        if self.failures:
            out["failures"] = self.failures
        if self.nodes:
            out["nodes"] = self.nodes
        return out


def internal_group(group: dict[str, Any]) -> dict[str, Any]:
    """Return an InstanceGroup as kops's internal API serializes it inside validation output."""
    spec = dict(group["spec"])
    spec["role"] = internal_role(group)
    return {"metadata": dict(group["metadata"]), "spec": spec}


def evaluate(
    groups: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    *,
    applied: bool,
) -> ValidationResult:
    """Return one validation of instance groups, their instances and Nodes, as kops words it."""
    result = ValidationResult(groups=groups)
    node_by_instance = {instance_id_of(n): n for n in nodes}
    members: dict[str, list[dict[str, Any]]] = {}
    for instance in instances:
        members.setdefault(instance_tag(instance, "kops.k8s.io/instancegroup"), []).append(instance)
    ready_nodes: list[dict[str, Any]] = []
    for group in groups:
        name = group["metadata"]["name"]
        group_members = members.get(name, [])
        target = int(group["spec"].get("minSize") or 0)
        if not group_members and not applied:
            result.failures.append(
                {
                    "type": "InstanceGroup",
                    "name": name,
                    "message": f'InstanceGroup "{name}" is missing from the cloud provider',
                    "instanceGroup": internal_group(group),
                }
            )
            continue
        if len(group_members) < target:
            result.failures.append(
                {
                    "type": "InstanceGroup",
                    "name": name,
                    "message": f'InstanceGroup "{name}" did not have enough nodes {len(group_members)} vs {target}',
                    "instanceGroup": internal_group(group),
                }
            )
        role = role_lower(group)
        for instance in group_members:
            node = node_by_instance.get(instance["InstanceId"])
            if node is None:
                result.failures.append(
                    {
                        "type": "Machine",
                        "name": instance["InstanceId"],
                        "message": f'machine "{instance["InstanceId"]}" has not yet joined cluster',
                        "instanceGroup": internal_group(group),
                    }
                )
                continue
            labels = node["metadata"].get("labels") or {}
            status = node_ready_status(node)
            node_name = node["metadata"]["name"]
            result.nodes.append(
                {
                    "name": node_name,
                    "zone": labels.get("topology.kubernetes.io/zone", ""),
                    "role": role,
                    "hostname": labels.get("kubernetes.io/hostname", ""),
                    "status": status,
                }
            )
            if status == "True":
                ready_nodes.append(node)
            else:
                result.failures.append(
                    {
                        "type": "Node",
                        "name": node_name,
                        "message": f'node "{node_name}" of role "{role}" is not ready',
                        "instanceGroup": internal_group(group),
                    }
                )
    result.failures += _pod_failures(pods)
    result.failures += _missing_static_pods(ready_nodes, pods, groups)
    return result


def instance_tag(instance: dict[str, Any], key: str) -> str:
    for tag in instance.get("Tags") or []:
        if tag["Key"] == key:
            return str(tag["Value"])
    return ""


def _missing_static_pods(
    ready_nodes: list[dict[str, Any]], pods: list[dict[str, Any]], groups: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return kops's failures for ready control-plane nodes without their static pods' mirrors."""
    by_address = {
        a["address"]: n["metadata"]["name"]
        for n in ready_nodes
        for a in (n.get("status") or {}).get("addresses") or []
    }
    missing = {
        n["metadata"]["name"]: set(STATIC_PODS)
        for n in ready_nodes
        if CONTROL_PLANE_LABEL in (n["metadata"].get("labels") or {})
    }
    for pod in pods:
        node = by_address.get((pod.get("status") or {}).get("hostIP", ""))
        if pod["metadata"].get("namespace") == "kube-system" and node in missing:
            missing[node].discard((pod["metadata"].get("labels") or {}).get("k8s-app", ""))
    group = next((g for g in groups if is_control_plane(g)), None)
    return [
        {
            "type": "Node",
            "name": node,
            "message": f'control-plane node "{node}" is missing {app} pod',
            **({"instanceGroup": internal_group(group)} if group else {}),
        }
        for node, apps in sorted(missing.items())
        for app in sorted(apps)
    ]


def _pod_failures(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return kops's Pod failures: critical pods that are pending, unknown or not ready."""
    failures = []
    for pod in pods:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        priority = spec.get("priorityClassName", "")
        if priority not in CRITICAL_PRIORITIES or status.get("phase") == "Succeeded":
            continue
        meta = pod["metadata"]
        full = f"{meta.get('namespace', 'default')}/{meta['name']}"
        phase = status.get("phase")
        if phase == "Pending":
            message = f'{priority} pod "{meta["name"]}" is pending'
        elif phase == "Unknown":
            message = f'{priority} pod "{meta["name"]}" is unknown phase'
        else:
            not_ready = [
                c["name"] for c in status.get("containerStatuses") or [] if not c.get("ready")
            ]
            if not not_ready:
                continue
            message = f'{priority} pod "{meta["name"]}" is not ready ({",".join(not_ready)})'
        failures.append({"type": "Pod", "name": full, "message": message})
    return failures
