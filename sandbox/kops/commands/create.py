"""``kops create cluster`` and ``kops update cluster``: write the spec, apply it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sandbox.kops import kubeconfig as kubeconfig_files
from sandbox.kops.cloud_labels import parse_cloud_labels
from sandbox.kops.exceptions import KopsError
from sandbox.kops.flags import DEFAULT_ADMIN
from sandbox.kops.output import to_json, to_yaml
from sandbox.kops.utils import parse_go_duration

if TYPE_CHECKING:  # boto3 and cryptography load late: `kops version` must stay quick
    from sandbox.kops.models import ApplyResult, KopsBackend
    from sandbox.kops.program import Program


def create_cluster(program: Program) -> int:
    """``kops create cluster``: write the spec; with ``--yes`` also apply it."""
    name = program.cluster_name(from_kubeconfig=False)
    if program.value("dry-run") and not program.value("output"):
        raise KopsError("unable to execute --dry-run without setting --output")
    backend = program.backend()
    if not program.value("dry-run") and backend.store.cluster(name) is not None:
        raise KopsError(
            f"cluster \"{name}\" already exists; use 'kops update cluster' to apply changes"
        )
    if program.value("bastion"):
        program.warn_twin("--bastion is accepted but the twin builds no bastion instance group")
    from sandbox.kops.cluster_spec import CreateOptions, build_cluster

    options = CreateOptions(
        name=name,
        state_url=backend.store.url,
        zones=list(program.value("zones", [])),
        control_plane_zones=list(program.value("control-plane-zones", [])),
        control_plane_count=int(program.value("control-plane-count", 0)),
        control_plane_sizes=list(program.value("control-plane-size", [])),
        node_sizes=list(program.value("node-size", [])),
        node_count=int(program.value("node-count", 0)),
        node_volume_size=int(program.value("node-volume-size", 0)),
        control_plane_volume_size=int(program.value("control-plane-volume-size", 0)),
        kubernetes_version=str(program.value("kubernetes-version", "")),
        networking=str(program.value("networking", "cilium")),
        topology=str(program.value("topology", "")),
        dns=str(program.value("dns", "")),
        network_cidrs=list(program.value("network-cidr", [])),
        cloud_labels=parse_cloud_labels(str(program.value("cloud-labels", ""))),
        image=str(program.value("image", "")),
        node_image=str(program.value("node-image", "")),
        control_plane_image=str(program.value("control-plane-image", "")),
        api_load_balancer_type=str(program.value("api-loadbalancer-type", "")),
        cloud=str(program.value("cloud", "")),
        channel=str(program.value("channel", "")),
    )
    program.info("new_cluster.go:1474", 'Cloud Provider ID: "aws"')
    cluster, groups = build_cluster(options, default_cidr=backend.config.vpc_cidr)
    for subnet in cluster["spec"]["subnets"]:
        program.info("subnets.go:224", f"Assigned CIDR {subnet['cidr']} to subnet {subnet['name']}")
    if program.value("dry-run"):
        objects = [_without_creation_time(o) for o in (cluster, *groups)]
        if program.value("output") == "json":
            program.out.write("".join(to_json(o) + "\n" for o in objects))
        elif program.value("output") == "yaml":
            program.out.write("\n---\n\n".join(to_yaml(o) for o in objects))
        else:
            raise KopsError(f'unsupported output type "{program.value("output")}"')
        return 0
    backend.create_cluster(cluster, groups)
    if not program.value("yes"):
        program.out.write("Previewing changes that will be made:\n\n")
        program.out.write("Must specify --yes to apply changes\n")
        nodes = [g for g in groups if g["spec"]["role"] == "Node"]
        masters = [g for g in groups if g["spec"]["role"] == "Master"]
        program.out.write(
            "\nCluster configuration has been created.\n\nSuggestions:\n"
            " * list clusters with: kops get cluster\n"
            f" * edit this cluster with: kops edit cluster {name}\n"
            f" * edit your node instance group: kops edit ig --name={name} {nodes[0]['metadata']['name']}\n"
            f" * edit your control-plane instance group: kops edit ig --name={name} {masters[0]['metadata']['name']}\n"
            f"\nFinally configure your cluster with: kops update cluster --name {name} --yes --admin\n\n"
        )
        return 0
    _apply(program, backend, name, first_run=True)
    program.write_kubeconfig(
        backend, name, admin=parse_go_duration(DEFAULT_ADMIN), user=None, internal=False
    )
    _suggestions(program, name, first_run=True)
    return 0


def _apply(program: Program, backend: KopsBackend, name: str, *, first_run: bool) -> ApplyResult:
    program.info("executor.go:113", "Tasks: 0 done / 86 total; 46 can run")
    result = backend.update_cluster(name)
    for item in result.created:
        program.info("executor.go:155", f"Created {item}")
    for instance_id in result.launched:
        program.info("executor.go:155", f"Launched instance {instance_id}")
    for warning in result.warnings:
        program.warn_twin(warning)
    program.info("executor.go:113", "Tasks: 86 done / 86 total; 0 can run")
    program.info("update_cluster.go:419", "Exporting kubeconfig for cluster")
    return result


def _suggestions(program: Program, name: str, *, first_run: bool) -> None:
    if first_run:
        program.out.write("\nCluster is starting.  It should be ready in a few minutes.\n\n")
        program.out.write(
            "Suggestions:\n"
            " * validate cluster: kops validate cluster --wait 10m\n"
            " * list nodes: kubectl get nodes --show-labels\n"
            f" * ssh to a control-plane node: ssh -i ~/.ssh/id_rsa ubuntu@api.{name}\n"
            " * the ubuntu user is specific to Ubuntu. If not using Ubuntu please use the "
            "appropriate user based on your OS.\n"
            " * read about installing addons at: https://kops.sigs.k8s.io/addons.\n\n"
        )
    else:
        program.out.write("\nCluster changes have been applied to the cloud.\n\n")


def update_cluster(program: Program) -> int:
    """``kops update cluster [--yes] [--admin[=TTL]|--user U]``."""
    name = program.cluster_name(from_kubeconfig=True)
    admin = program.value("admin")
    user = program.value("user")
    if admin and user:
        raise KopsError("cannot use both --admin and --user")
    backend = program.backend()
    cluster = backend.cluster(name)
    if not program.value("yes"):
        state = backend.store.sandbox_state(name)
        if state.get("applied"):
            program.out.write("No changes need to be applied\n")
        else:
            program.out.write("Must specify --yes to apply changes\n")
        return 0
    path = kubeconfig_files.kubeconfig_path(program.env)
    first_run = not _has_context(path, cluster["metadata"]["name"])
    _apply(program, backend, name, first_run=first_run)
    if admin or user or program.value("create-kube-config") or program.value("internal"):
        program.write_kubeconfig(
            backend, name, admin=admin, user=user, internal=bool(program.value("internal"))
        )
        if not admin and not user:
            program.warning(
                "update_cluster.go:439",
                "Exported kubeconfig with no user authentication; use --admin, --user or "
                "--auth-plugin flags with `kops export kubeconfig`",
            )
    _suggestions(program, name, first_run=first_run)
    return 0


def _without_creation_time(obj: dict[str, Any]) -> dict[str, Any]:
    """Return an object as a dry run prints it: not created, so no ``creationTimestamp``."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "creationTimestamp"}
    return {**obj, "metadata": metadata}


def _has_context(path: Path, name: str) -> bool:
    if not path.exists():
        return False
    config = yaml.safe_load(path.read_text()) or {}
    return any(c.get("name") == name for c in config.get("clusters") or [])
