"""The cluster and instance groups ``kops create cluster`` writes, as kops 1.36 builds them."""

from __future__ import annotations

import copy
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.kops.exceptions import KopsError, TwinLimitation
from sandbox.kops.utils import split_network

API_VERSION = "kops.k8s.io/v1alpha2"
DEFAULT_IMAGE = "099720109477/ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260218"
DEFAULT_CONTROL_PLANE_SIZE = "t3.medium"
DEFAULT_NODE_SIZE = "t3.medium"
DEFAULT_KUBERNETES_VERSION = "1.36.0"
OLDEST_SUPPORTED_KUBERNETES = (1, 31)
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
NETWORKING = {
    "kubenet": "kubenet",
    "external": "external",
    "flannel": "flannel",
    "flannel-vxlan": "flannel",
    "flannel-udp": "flannel",
    "calico": "calico",
    "kube-router": "kubeRouter",
    "amazonvpc": "amazonvpc",
    "amazon-vpc-routed-eni": "amazonvpc",
    "cilium": "cilium",
    "cilium-etcd": "cilium",
    "cilium-eni": "cilium",
    "kindnet": "kindnet",
    "cni": "cni",
    "gce": "gce",
    "kopeio": "kopeio",
}


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def region_of_zone(zone: str) -> str:
    """Return the region of an availability zone (``ap-northeast-1a`` -> ``ap-northeast-1``)."""
    return zone[:-1]


def cluster_region(cluster: dict[str, Any]) -> str:
    """Return the region of a stored cluster, from its subnets' zones."""
    for subnet in cluster["spec"].get("subnets") or []:
        if subnet.get("zone"):
            return region_of_zone(subnet["zone"])
    raise KopsError(f"cannot determine region of cluster {cluster['metadata']['name']!r}")


def is_control_plane(group: dict[str, Any]) -> bool:
    """Whether an InstanceGroup (any API version) is a control-plane group."""
    return group["spec"].get("role") in ("Master", "ControlPlane")


def internal_role(group: dict[str, Any]) -> str:
    """Return the role as kops's internal API names it (``ControlPlane``, ``Node``, ``Bastion``)."""
    role = str(group["spec"].get("role", "Node"))
    return "ControlPlane" if role == "Master" else role


def role_lower(group: dict[str, Any]) -> str:
    """Return the role as ``kops validate`` reports it (``control-plane``, ``node``)."""
    return {"ControlPlane": "control-plane", "APIServer": "apiserver"}.get(
        internal_role(group), internal_role(group).lower()
    )


@dataclass(frozen=True)
class CreateOptions:
    """What ``kops create cluster`` flags ask for (only what the twin acts on)."""

    name: str
    state_url: str
    zones: list[str]
    control_plane_zones: list[str] = field(default_factory=list)
    control_plane_count: int = 0
    control_plane_sizes: list[str] = field(default_factory=list)
    node_sizes: list[str] = field(default_factory=list)
    node_count: int = 0
    node_volume_size: int = 0
    control_plane_volume_size: int = 0
    kubernetes_version: str = ""
    networking: str = "cilium"
    topology: str = ""
    dns: str = ""
    network_cidrs: list[str] = field(default_factory=list)
    cloud_labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    node_image: str = ""
    control_plane_image: str = ""
    api_load_balancer_type: str = ""
    cloud: str = ""
    channel: str = ""


def _metadata(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"creationTimestamp": _now_iso(), "name": name}
    if labels:
        meta["labels"] = labels
    return meta


def build_cluster(
    options: CreateOptions, *, default_cidr: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the Cluster and InstanceGroups ``kops create cluster`` writes (v1alpha2 objects)."""
    if not options.zones:
        raise KopsError("must specify at least one zone for the cluster (use --zones)")
    if options.cloud and options.cloud != "aws":
        raise TwinLimitation(f"the twin emulates AWS only, not --cloud={options.cloud}")
    networking = NETWORKING.get(options.networking)
    if networking is None:
        raise KopsError(f'unknown networking mode "{options.networking}"')
    topology = options.topology or "public"
    if topology not in ("public", "private"):
        raise KopsError(f"invalid topology {topology}")
    dns = (options.dns or "public").lower()
    if dns not in ("public", "private", "none"):
        raise KopsError(f'unknown DNSType: "{options.dns}"')
    cidr = options.network_cidrs[0] if options.network_cidrs else default_cidr
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise KopsError(f'invalid value "{cidr}" for --network-cidr: {exc}') from exc
    if not network.subnet_of(LOOPBACK):
        raise TwinLimitation(
            f"--network-cidr {cidr} is outside 127.0.0.0/8: the twin needs loopback addresses "
            "so that instances' private IPs are bindable on this machine (e.g. 127.20.0.0/16)"
        )
    layout = split_network(str(network), options.zones)
    subnets: list[dict[str, Any]] = []
    for zone in options.zones:
        private = layout[zone][0]
        kind = "Private" if topology == "private" else "Public"
        subnets.append({"cidr": private, "name": zone, "type": kind, "zone": zone})
    if topology == "private":
        for zone in options.zones:
            subnets.append(
                {
                    "cidr": layout[zone][1],
                    "name": f"utility-{zone}",
                    "type": "Utility",
                    "zone": zone,
                }
            )

    control_plane_zones = options.control_plane_zones or options.zones[:1]
    count = options.control_plane_count
    if options.control_plane_zones:
        if count and count < len(control_plane_zones):
            raise KopsError(
                f"specified {len(control_plane_zones)} control-plane zones, but also requested "
                f"{count} control-plane nodes.  If specifying both, the count should match."
            )
        count = count or len(control_plane_zones)
    else:
        control_plane_zones = list(options.zones)
        count = count or 1
    groups: list[dict[str, Any]] = []
    cluster_label = {"kops.k8s.io/cluster": options.name}
    image = options.image or DEFAULT_IMAGE
    for index in range(count):
        zone = control_plane_zones[index % len(control_plane_zones)]
        suffix = zone
        if count > len(control_plane_zones):
            suffix += f"-{1 + index // len(control_plane_zones)}"
        name = f"control-plane-{suffix}"
        spec: dict[str, Any] = {
            "image": options.control_plane_image or image,
            "machineType": (options.control_plane_sizes or [DEFAULT_CONTROL_PLANE_SIZE])[0],
            "maxSize": 1,
            "minSize": 1,
            "nodeLabels": {"kops.k8s.io/instancegroup": name},
            "role": "Master",
            "subnets": [zone],
        }
        if options.control_plane_volume_size:
            spec["rootVolumeSize"] = options.control_plane_volume_size
        groups.append(
            {
                "apiVersion": API_VERSION,
                "kind": "InstanceGroup",
                "metadata": _metadata(name, cluster_label),
                "spec": spec,
            }
        )
    node_count = options.node_count or len(options.zones)
    per_group, remainder = divmod(node_count, len(options.zones))
    for index, zone in enumerate(options.zones):
        size = per_group + (1 if index < remainder else 0)
        name = f"nodes-{zone}"
        spec = {
            "image": options.node_image or image,
            "machineType": (options.node_sizes or [DEFAULT_NODE_SIZE])[0],
            "maxSize": size,
            "minSize": size,
            "nodeLabels": {"kops.k8s.io/instancegroup": name},
            "role": "Node",
            "subnets": [zone],
        }
        if options.node_volume_size:
            spec["rootVolumeSize"] = options.node_volume_size
        groups.append(
            {
                "apiVersion": API_VERSION,
                "kind": "InstanceGroup",
                "metadata": _metadata(name, cluster_label),
                "spec": spec,
            }
        )

    members = [_etcd_member(g) for g in groups if g["spec"]["role"] == "Master"]
    lb_type = (options.api_load_balancer_type or "public").capitalize()
    cluster_spec: dict[str, Any] = {
        "api": {"loadBalancer": {"class": "Network", "type": lb_type}},
        "authorization": {"rbac": {}},
        "channel": options.channel or "stable",
        "cloudProvider": "aws",
        "configBase": f"{options.state_url.rstrip('/')}/{options.name}",
        "etcdClusters": [
            {
                "cpuRequest": "200m",
                "etcdMembers": members,
                "manager": {"backupRetentionDays": 90},
                "memoryRequest": "100Mi",
                "name": "main",
            },
            {
                "cpuRequest": "100m",
                "etcdMembers": copy.deepcopy(members),
                "manager": {"backupRetentionDays": 90},
                "memoryRequest": "100Mi",
                "name": "events",
            },
        ],
        "iam": {"allowContainerRegistry": True, "legacy": False},
        "kubelet": {"anonymousAuth": False},
        "kubernetesApiAccess": ["0.0.0.0/0", "::/0"],
        "kubernetesVersion": options.kubernetes_version or DEFAULT_KUBERNETES_VERSION,
        "networkCIDR": str(network),
        "networking": {networking: {}},
        "nonMasqueradeCIDR": "100.64.0.0/10",
        "sshAccess": ["0.0.0.0/0", "::/0"],
        "subnets": subnets,
        "topology": {"dns": {"type": dns.capitalize()}},
    }
    if options.cloud_labels:
        cluster_spec["cloudLabels"] = dict(options.cloud_labels)
    cluster = {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": _metadata(options.name),
        "spec": cluster_spec,
    }
    return cluster, groups


def _etcd_member(group: dict[str, Any]) -> dict[str, Any]:
    """Return the etcd member of a control-plane group: named after its zone's letter."""
    name = group["metadata"]["name"]
    zone = group["spec"]["subnets"][0]
    suffix = name.removeprefix(f"control-plane-{zone}")
    return {"encryptedVolume": True, "instanceGroup": name, "name": zone[-1] + suffix}


def kubernetes_minor(version: str) -> tuple[int, int]:
    """Return (major, minor) of a Kubernetes version such as ``v1.35.0``."""
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError) as exc:
        raise KopsError(f'unable to parse kubernetes version "{version}"') from exc
