"""The objects a kubelet on an EC2 instance writes: its Node, the Node's status and its Lease.

Labels are those a kops node carries (the kubelet's own, the instance group's and the role that
kops-controller adds); the providerID is ``aws:///<zone>/<instance-id>``, which is how
``kops validate cluster`` matches Nodes to instances.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
NODE_ROLE_LABEL = "node-role.kubernetes.io/node"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
INSTANCE_GROUP_TAG = "kops.k8s.io/instancegroup"
KUBELET_PORT = 10250
LEASE_SECONDS = 40
CAPACITY = {"cpu": "2", "memory": "3977652Ki", "pods": "110", "ephemeral-storage": "50620216Ki"}


def rfc3339(moment: float | None = None) -> str:
    """Return a timestamp as the API writes ``Time`` fields (whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment or time.time()))


def micro_time(moment: float | None = None) -> str:
    """Return a timestamp as the API writes ``MicroTime`` fields (a Lease's renewTime)."""
    now = moment or time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def tag(instance: dict[str, Any], key: str) -> str:
    """Return an EC2 tag's value ('' when absent)."""
    for item in instance.get("Tags") or []:
        if item["Key"] == key:
            return str(item["Value"])
    return ""


def is_control_plane(instance: dict[str, Any]) -> bool:
    """Whether kops launched the instance for the control plane."""
    return tag(instance, "k8s.io/role/control-plane") == "1"


def node_object(instance: dict[str, Any], *, region: str, pod_cidr: str) -> dict[str, Any]:
    """Return the Node a kubelet on this instance registers."""
    name = instance["PrivateDnsName"]
    zone = instance["Placement"]["AvailabilityZone"]
    instance_type = instance["InstanceType"]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        INSTANCE_GROUP_TAG: tag(instance, INSTANCE_GROUP_TAG),
    }
    spec: dict[str, Any] = {
        "providerID": f"aws:///{zone}/{instance['InstanceId']}",
        "podCIDR": pod_cidr,
        "podCIDRs": [pod_cidr],
    }
    if is_control_plane(instance):
        labels |= {
            CONTROL_PLANE_LABEL: "",
            EXCLUDE_LB_LABEL: "",
            "kops.k8s.io/kops-controller-pki": "",
        }
        spec["taints"] = [{"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}]
    else:
        labels[NODE_ROLE_LABEL] = ""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def node_status(instance: dict[str, Any], *, ready: bool, version: str) -> dict[str, Any]:
    """Return a Node's status: addresses from the instance, capacity, the Ready condition."""
    name = instance["PrivateDnsName"]
    instance_id = instance["InstanceId"]
    return {
        "addresses": [
            {"type": "InternalIP", "address": instance["PrivateIpAddress"]},
            {"type": "Hostname", "address": name},
            {"type": "InternalDNS", "address": name},
        ],
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "conditions": [ready_condition(ready)],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"boot/{instance_id}")),
            "containerRuntimeVersion": "containerd://1.7.28",
            "kernelVersion": "6.8.0-1036-aws",
            "kubeProxyVersion": "",
            "kubeletVersion": version,
            "machineID": uuid.uuid5(uuid.NAMESPACE_URL, instance_id).hex,
            "operatingSystem": "linux",
            "osImage": "Ubuntu 24.04.3 LTS",
            "systemUUID": "ec2" + uuid.uuid5(uuid.NAMESPACE_URL, instance_id).hex[3:],
        },
    }


def ready_condition(ready: bool, moment: float | None = None) -> dict[str, str]:
    """Return the Ready condition as a kubelet posts it."""
    stamp = rfc3339(moment)
    if ready:
        reason, message = "KubeletReady", "kubelet is posting ready status"
    else:
        reason = "KubeletNotReady"
        message = (
            "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized"
        )
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def lease(node_name: str, moment: float | None = None) -> dict[str, Any]:
    """Return the node's Lease in kube-node-lease, renewed now."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node_name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": micro_time(moment),
        },
    }
