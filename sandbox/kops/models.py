"""The emulated kops: cluster specs in an S3 state store, and a backend whose methods are the commands.

``KopsBackend`` keeps no state of its own: clusters and instance groups live in the state-store
bucket as kops keeps them (``s3://bucket/NAME/config``, ``NAME/instancegroup/<ig>``), what the
emulated create built in ``NAME/sandbox-state``, the injected validation flaps' counters beside
the twin's config, the cloud in AWS (``cloud.ClusterCloud``)
and the Nodes in the cluster's own Kubernetes API (``kube.HttpKube``), which the twin boots when
the control-plane instance runs. Each process invocation builds a fresh backend, like each real
``kops`` run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.boto_sessions import shared_loader_session
from sandbox.config import SandboxConfig, load
from sandbox.kops import flaps, kubeconfig
from sandbox.kops.cloud import ClusterCloud, Slot
from sandbox.kops.cloud_deletion import Resource
from sandbox.kops.cluster_spec import (
    OLDEST_SUPPORTED_KUBERNETES,
    cluster_region,
    is_control_plane,
    kubernetes_minor,
)
from sandbox.kops.exceptions import (
    ClusterAlreadyExists,
    ClusterConfigNotFound,
    ClusterNotFound,
    KopsError,
    NoClustersFound,
)
from sandbox.kops.kube import HttpKube, KubeApiError
from sandbox.kops.state import CA_FILE, INSTANCE_GROUP_DIR, StateStore
from sandbox.kops.validation import ValidationResult, evaluate, instance_tag, internal_group
from sandbox.switches import CONFIG_ENV

KUBE_API_ENV = "SANDBOX_KUBE_API_URL"


@dataclass
class ApplyResult:
    """What one ``update cluster --yes`` did."""

    created: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
        # Injected faults' bookkeeping stays beside the twin's config: the state store holds
        # only what kops itself writes (real kops refuses to delete a cluster with more).
        self.faults_dir = flaps.faults_dir(Path(config_path)) if config_path else None
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or self.config.region
        self.store = StateStore.from_url(state_url, shared_loader_session(region).client("s3"))
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
        network = cloud.network()
        result = ApplyResult()

        def note(kind: str, ident: str, created: bool) -> None:
            if created:
                result.created.append(f"{kind}:{ident}")

        vpc_id, created = network.ensure_vpc(cluster["spec"]["networkCIDR"])
        note("vpc", vpc_id, created)
        subnet_ids: dict[str, str] = {}
        for subnet in cluster["spec"]["subnets"]:
            subnet_id, created = network.ensure_subnet(vpc_id=vpc_id, subnet=subnet)
            subnet_ids[subnet["name"]] = subnet_id
            note("subnet", subnet_id, created)
        igw_id, created = network.ensure_internet_gateway(vpc_id)
        note("internet-gateway", igw_id, created)
        public = [s for s in cluster["spec"]["subnets"] if s["type"] in ("Utility", "Public")]
        table_id, created = network.ensure_route_table(
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
            nat_id, created = network.ensure_nat_gateway(
                zone=zone, utility_subnet_id=subnet_ids[f"utility-{zone}"]
            )
            note("nat-gateway", nat_id, created)
            table_id, created = network.ensure_route_table(
                vpc_id=vpc_id,
                name=f"private-{zone}.{name}",
                role=f"private-{zone}",
                route={"NatGatewayId": nat_id},
                subnet_ids=[subnet_ids[subnet["name"]]],
            )
            note("route-table", table_id, created)
        groups_ids, created = network.ensure_security_groups(vpc_id)
        note("security-group", ",".join(sorted(groups_ids.values())), created)
        if cloud.ensure_roles(bucket=self.store.bucket, prefix=self.store.prefix):
            result.created.append(f"iam-role:masters.{name},nodes.{name}")

        instances = self._ensure_instances(cloud, cluster, groups, subnet_ids, groups_ids, result)
        control_plane_ids = [
            i["InstanceId"]
            for i in instances
            if instance_tag(i, "k8s.io/role/control-plane") == "1"
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
            by_group.setdefault(instance_tag(instance, "kops.k8s.io/instancegroup"), []).append(
                instance
            )
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
            result = self._apply_flap(name, result)
        return result

    def _apply_flap(self, name: str, result: ValidationResult) -> ValidationResult:
        """Turn a pass into a failure while injected flaps remain (after the first pass)."""
        if not self.config.faults.validate_flaps or self.faults_dir is None:
            return result  # nothing injected: no bookkeeping, so validation writes nothing
        record = self.faults_dir / f"{name}.json"
        flap = flaps.flap_now(
            record, self.config.faults.validate_flaps, has_nodes=bool(result.nodes)
        )
        if flap is None:
            return result
        victim = flaps.not_ready(result.nodes, flap)
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
        result.failures.append(flaps.node_failure(victim, internal_group(group)))
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
        return self._cloud(self.cluster(name)).deletion().list_resources()

    def delete_cluster(self, name: str, resources: list[Resource]) -> Iterator[str]:
        """Delete the cloud resources, then the cluster's state; yield progress lines."""
        cluster = self.cluster(name)
        cloud = self._cloud(cluster)
        yield from cloud.deletion().delete_resources(resources)
        self.store.delete_cluster(name)


__all__ = ["ApplyResult", "KopsBackend"]
