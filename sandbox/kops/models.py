"""The emulated kops: cluster specs in an S3 state store, and a backend whose methods are the commands.

``KopsBackend`` keeps no state of its own: clusters and instance groups live in the state-store
bucket as kops keeps them (``s3://bucket/NAME/config``, ``NAME/instancegroup/<ig>``), what the
twin built and its counters in ``NAME/sandbox-state``, the cloud in AWS (``cloud.ClusterCloud``)
and the Nodes in the cluster's own Kubernetes API (``kube.HttpKube``), which the twin boots when
the control-plane instance runs. Each process invocation builds a fresh backend, like each real
``kops`` run.
"""

from __future__ import annotations

import copy
import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.config import CONFIG_ENV, SandboxConfig, load
from sandbox.kops import kubeconfig
from sandbox.kops.cloud import ClusterCloud, Resource, Slot, aws_session
from sandbox.kops.exceptions import (
    ClusterAlreadyExists,
    ClusterConfigNotFound,
    ClusterNotFound,
    KopsError,
    NoClustersFound,
    TwinLimitation,
)
from sandbox.kops.kube import (
    CONTROL_PLANE_LABEL,
    HttpKube,
    KubeApiError,
    instance_id_of,
    node_ready_status,
)
from sandbox.kops.state import CA_FILE, INSTANCE_GROUP_DIR, StateStore
from sandbox.kops.utils import split_network

KUBE_API_ENV = "SANDBOX_KUBE_API_URL"
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
CRITICAL_PRIORITIES = ("system-cluster-critical", "system-node-critical")
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


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


@dataclass
class ApplyResult:
    """What one ``update cluster --yes`` did."""

    created: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def _internal_group(group: dict[str, Any]) -> dict[str, Any]:
    """Return an InstanceGroup as kops's internal API serializes it inside validation output."""
    spec = dict(group["spec"])
    spec["role"] = internal_role(group)
    return {"metadata": dict(group["metadata"]), "spec": spec}


class KopsBackend:
    """The kops commands, against a state store, AWS and (optionally) the twin's Kubernetes API."""

    def __init__(
        self,
        *,
        state_url: str,
        env: Mapping[str, str],
        warn: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.env = env
        self.warn = warn
        self.clock = clock
        config_path = env.get(CONFIG_ENV)
        self.config: SandboxConfig = load(Path(config_path) if config_path else None)
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or self.config.region
        self.store = StateStore.from_url(state_url, aws_session(region).client("s3"))
        self.kube_url = env.get(KUBE_API_ENV, "")

    # -- state ---------------------------------------------------------------------------------
    def cluster(self, name: str) -> dict[str, Any]:
        """Return a stored cluster; raise kops's "error reading cluster configuration" if absent."""
        cluster = self.store.cluster(name)
        if cluster is None:
            raise ClusterConfigNotFound(name)
        return cluster

    def get_clusters(self, names: list[str]) -> list[dict[str, Any]]:
        """Return the named clusters (all when none named), as ``kops get clusters`` selects them."""
        if len(names) == 1:
            found = self.store.cluster(names[0])
            clusters = [found] if found else []
        else:
            clusters = [c for n in self.store.cluster_names() if (c := self.store.cluster(n))]
        by_name = {c["metadata"]["name"]: c for c in clusters}
        if names:
            for name in names:
                if name not in by_name:
                    raise ClusterNotFound(name)
            clusters = [by_name[name] for name in names]
        if not clusters:
            raise NoClustersFound()
        return clusters

    def instance_groups(self, name: str) -> list[dict[str, Any]]:
        """Return the cluster's instance groups."""
        return self.store.instance_groups(name)

    def create_cluster(self, cluster: dict[str, Any], groups: list[dict[str, Any]]) -> None:
        """Write a new cluster and its instance groups to the state store."""
        name = cluster["metadata"]["name"]
        if self.store.cluster(name) is not None:
            raise ClusterAlreadyExists(name)
        for group in groups:
            self.store.write_yaml(name, f"{INSTANCE_GROUP_DIR}/{group['metadata']['name']}", group)
        self.store.write_yaml(name, "config", cluster)

    def require_ca(self, name: str) -> None:
        """Raise kops's error when the cluster was never applied: no CA in the state store yet.

        Real kops creates the CA on the first ``update cluster --yes`` (``create cluster``
        without ``--yes`` writes only the spec), and ``validate`` builds its client from it.
        """
        if self.store.read_yaml(name, CA_FILE) is None:
            raise KopsError("getting rest config: cannot find CA certificate")

    def kube(self, name: str) -> HttpKube | None:
        """An admin client of the cluster's API built from its CA, as ``kops validate`` builds one."""
        if not self.kube_url:
            return None
        import ssl
        import tempfile

        from sandbox.kops import pki

        ca_cert, ca_key = pki.ensure_ca(self.store, name)
        cert, key = pki.issue_admin_certificate(ca_cert, ca_key, 3600.0)
        context = ssl.create_default_context(cadata=ca_cert)
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "admin.crt").write_text(cert)
            (Path(scratch) / "admin.key").write_text(key)
            context.load_cert_chain(Path(scratch) / "admin.crt", Path(scratch) / "admin.key")
        return HttpKube(self.kube_url, context=context, server_name=f"api.internal.{name}")

    def _cloud(self, cluster: dict[str, Any]) -> ClusterCloud:
        return ClusterCloud(
            cluster=cluster["metadata"]["name"],
            region=cluster_region(cluster),
            labels=cluster["spec"].get("cloudLabels") or {},
        )

    # -- update --------------------------------------------------------------------------------
    def update_cluster(self, name: str) -> ApplyResult:
        """Build (or complete) the cluster's cloud resources and register its Nodes."""
        cluster = self.cluster(name)
        if kubernetes_minor(cluster["spec"]["kubernetesVersion"]) < OLDEST_SUPPORTED_KUBERNETES:
            raise KopsError("kubernetes upgrade is required")
        from sandbox.kops import pki  # cryptography loads only for commands that need the CA

        pki.ensure_ca(self.store, name)
        groups = self.instance_groups(name)
        cloud = self._cloud(cluster)
        result = ApplyResult()

        def note(kind: str, ident: str, created: bool) -> None:
            if created:
                result.created.append(f"{kind}:{ident}")

        vpc_id, created = cloud.ensure_vpc(cluster["spec"]["networkCIDR"])
        note("vpc", vpc_id, created)
        subnet_ids: dict[str, str] = {}
        for subnet in cluster["spec"]["subnets"]:
            subnet_id, created = cloud.ensure_subnet(vpc_id=vpc_id, subnet=subnet)
            subnet_ids[subnet["name"]] = subnet_id
            note("subnet", subnet_id, created)
        igw_id, created = cloud.ensure_internet_gateway(vpc_id)
        note("internet-gateway", igw_id, created)
        public = [s for s in cluster["spec"]["subnets"] if s["type"] in ("Utility", "Public")]
        table_id, created = cloud.ensure_route_table(
            vpc_id=vpc_id,
            name=name,
            role="public",
            route={"GatewayId": igw_id},
            subnet_ids=[subnet_ids[s["name"]] for s in public],
        )
        note("route-table", table_id, created)
        for subnet in cluster["spec"]["subnets"]:
            if subnet["type"] != "Private":
                continue
            zone = subnet["zone"]
            nat_id, created = cloud.ensure_nat_gateway(
                zone=zone, utility_subnet_id=subnet_ids[f"utility-{zone}"]
            )
            note("nat-gateway", nat_id, created)
            table_id, created = cloud.ensure_route_table(
                vpc_id=vpc_id,
                name=f"private-{zone}.{name}",
                role=f"private-{zone}",
                route={"NatGatewayId": nat_id},
                subnet_ids=[subnet_ids[subnet["name"]]],
            )
            note("route-table", table_id, created)
        groups_ids, created = cloud.ensure_security_groups(vpc_id)
        note("security-group", ",".join(sorted(groups_ids.values())), created)
        if cloud.ensure_roles(bucket=self.store.bucket, prefix=self.store.prefix):
            result.created.append(f"iam-role:masters.{name},nodes.{name}")

        instances = self._ensure_instances(cloud, cluster, groups, subnet_ids, groups_ids, result)
        control_plane_ids = [
            i["InstanceId"] for i in instances if _tag(i, "k8s.io/role/control-plane") == "1"
        ]
        api_subnets = [subnet_ids[s["name"]] for s in public] or list(subnet_ids.values())
        scheme = (
            "internal"
            if cluster["spec"]["api"]["loadBalancer"]["type"] == "Internal"
            else "internet-facing"
        )
        if cloud.ensure_api_load_balancer(
            subnet_ids=api_subnets,
            vpc_id=vpc_id,
            scheme=scheme,
            control_plane_ids=control_plane_ids,
        ):
            result.created.append("load-balancer:api")
        state = self.store.sandbox_state(name)
        applied = {**state, "applied": True, "vpc": vpc_id, "subnets": subnet_ids}
        if applied != state:  # like kops's managed files: written only when they change
            self.store.save_sandbox_state(name, applied)
        return result

    def _ensure_instances(
        self,
        cloud: ClusterCloud,
        cluster: dict[str, Any],
        groups: list[dict[str, Any]],
        subnet_ids: dict[str, str],
        security_groups: dict[str, str],
        result: ApplyResult,
    ) -> list[dict[str, Any]]:
        existing = cloud.instances()
        by_group: dict[str, list[dict[str, Any]]] = {}
        for instance in existing:
            by_group.setdefault(_tag(instance, "kops.k8s.io/instancegroup"), []).append(instance)
        image_id: str | None = None
        for group in groups:
            spec = group["spec"]
            name = group["metadata"]["name"]
            want = int(spec.get("minSize") or 0)
            have = len(by_group.get(name, []))
            control_plane = is_control_plane(group)
            for index in range(have, want):
                subnet_name = spec["subnets"][index % len(spec["subnets"])]
                subnet = next(s for s in cluster["spec"]["subnets"] if s["name"] == subnet_name)
                image_id = image_id or cloud.image_id()
                slot = Slot(
                    group=name,
                    control_plane=control_plane,
                    zone=subnet["zone"],
                    subnet_name=subnet_name,
                    machine_type=spec["machineType"],
                    volume_size=spec.get("rootVolumeSize"),
                )
                instance = cloud.launch(
                    slot=slot,
                    image_id=image_id,
                    subnet_id=subnet_ids[subnet_name],
                    security_group_id=security_groups["masters" if control_plane else "nodes"],
                    config_base=self.store.config_base(cluster["metadata"]["name"]),
                )
                existing.append(instance)
                result.launched.append(instance["InstanceId"])
        return existing

    # -- validate ------------------------------------------------------------------------------
    def validate_cluster(self, name: str) -> ValidationResult:
        """Run one validation attempt the way pkg/validation does; apply injected flaps."""
        cluster = self.cluster(name)
        groups = self.instance_groups(name)
        if not groups:
            raise KopsError("no InstanceGroup objects found")
        cloud = self._cloud(cluster)
        instances = cloud.instances()
        nodes: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        kube = self.kube(name)
        if kube is not None:
            try:
                nodes = kube.list("v1/nodes")
                pods = kube.list("v1/pods")
            except KubeApiError as exc:
                raise KopsError(
                    f"unexpected error during validation: error listing nodes: {exc}"
                ) from exc
        else:
            self.warn(f"{KUBE_API_ENV} is not set: validating without a Kubernetes API (no Nodes)")
        state = self.store.sandbox_state(name)
        result = evaluate(groups, instances, nodes, pods, applied=bool(state.get("applied")))
        if not result.failures:
            result = self._apply_flap(name, state, result)
        return result

    def _apply_flap(
        self, name: str, state: dict[str, Any], result: ValidationResult
    ) -> ValidationResult:
        """Turn a pass into a failure while injected flaps remain (after the first pass)."""
        if not self.config.faults.validate_flaps:
            return result  # nothing injected: no bookkeeping, so validation writes nothing
        passes = int(state.get("validate_passes", 0))
        flapped = int(state.get("validate_flaps_done", 0))
        if passes >= 1 and flapped < self.config.faults.validate_flaps and result.nodes:
            state["validate_flaps_done"] = flapped + 1
            self.store.save_sandbox_state(name, state)
            workers = [n for n in result.nodes if n["role"] == "node"] or result.nodes
            victim = workers[flapped % len(workers)]
            victim["status"] = "False"
            group = next(
                (
                    g
                    for g in result.groups
                    if g["metadata"]["name"].startswith("nodes-")
                    and victim["zone"]
                    and g["metadata"]["name"].endswith(victim["zone"])
                ),
                result.groups[0],
            )
            result.failures.append(
                {
                    "type": "Node",
                    "name": victim["name"],
                    "message": f'node "{victim["name"]}" of role "{victim["role"]}" is not ready',
                    "instanceGroup": _internal_group(group),
                }
            )
            return result
        state["validate_passes"] = passes + 1
        self.store.save_sandbox_state(name, state)
        return result

    # -- kubeconfig ----------------------------------------------------------------------------
    def export_kubecfg(
        self,
        name: str,
        *,
        path: Path,
        admin_lifetime: float | None,
        user: str | None,
        internal: bool,
    ) -> None:
        """Write the cluster's context (and admin credentials with a lifetime) to a kubeconfig."""
        cluster = self.cluster(name)
        from sandbox.kops import pki

        ca_cert, ca_key = pki.ensure_ca(self.store, name)
        server = self.env.get(KUBE_API_ENV) or (
            f"https://api.internal.{name}" if internal else f"https://api.{name}"
        )
        if not self.env.get(KUBE_API_ENV):
            self.warn(
                f"{KUBE_API_ENV} is not set: the kubeconfig points at {server}, which does not exist"
            )
        client_cert = client_key = None
        if admin_lifetime:
            client_cert, client_key = pki.issue_admin_certificate(ca_cert, ca_key, admin_lifetime)
        kubeconfig.write_kubeconfig(
            path,
            cluster=cluster["metadata"]["name"],
            server=server,
            ca_pem=ca_cert,
            tls_server_name=f"api.internal.{name}",
            client_cert_pem=client_cert,
            client_key_pem=client_key,
            user=user,
        )

    # -- delete --------------------------------------------------------------------------------
    def cluster_resources(self, name: str) -> list[Resource]:
        """Return what ``kops delete cluster`` would delete in the cloud."""
        return self._cloud(self.cluster(name)).list_resources()

    def delete_cluster(self, name: str, resources: list[Resource]) -> Iterator[str]:
        """Delete the cloud resources, then the cluster's state; yield progress lines."""
        cluster = self.cluster(name)
        cloud = self._cloud(cluster)
        yield from cloud.delete_resources(resources)
        self.store.delete_cluster(name)


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
        members.setdefault(_tag(instance, "kops.k8s.io/instancegroup"), []).append(instance)
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
                    "instanceGroup": _internal_group(group),
                }
            )
            continue
        if len(group_members) < target:
            result.failures.append(
                {
                    "type": "InstanceGroup",
                    "name": name,
                    "message": f'InstanceGroup "{name}" did not have enough nodes {len(group_members)} vs {target}',
                    "instanceGroup": _internal_group(group),
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
                        "instanceGroup": _internal_group(group),
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
                        "instanceGroup": _internal_group(group),
                    }
                )
    result.failures += _pod_failures(pods)
    result.failures += _missing_static_pods(ready_nodes, pods, groups)
    return result


def _tag(instance: dict[str, Any], key: str) -> str:
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
            **({"instanceGroup": _internal_group(group)} if group else {}),
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


__all__ = [
    "CONTROL_PLANE_LABEL",
    "ApplyResult",
    "CreateOptions",
    "KopsBackend",
    "ValidationResult",
    "build_cluster",
]
