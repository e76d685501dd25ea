"""The argv of every kops command the project runs, built from the spec (pure).

The builders pass only flags that exist, undeprecated, in kops 1.36
(``tests/data/kops-1.36-create-cluster-flags*.txt`` holds the list this is checked against).

- ``--admin`` has an optional value (``--admin`` alone means 18h), so a lifetime must be written
  ``--admin=2h``: ``--admin 2h`` would read ``2h`` as a cluster name.
- ``--cloud-labels`` is one string of ``key=value`` pairs split on every comma; ``=`` or ``"``
  inside a key or value need a quoted CSV field, and a comma cannot be carried at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from kops_nlb.core.errors import SpecError
from kops_nlb.core.naming import project_tags
from kops_nlb.core.spec import EnvironmentSpec

CLUSTER_COMPONENT = "kops-cluster"


# Keys and prefixes kops reserves for its own tags (pkg/apis/kops/validation/cluster.go).
RESERVED_LABEL_KEYS = frozenset({"Name", "KubernetesCluster"})


RESERVED_LABEL_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/role/", "kops.k8s.io/")


def cloud_labels(spec: EnvironmentSpec) -> dict[str, str]:
    """Return the tags kops puts on every instance group: the spec's extra tags and ours.

    ``Name`` is left out (kops names each instance itself and reserves the key).
    """
    tags = project_tags(spec, CLUSTER_COMPONENT)
    tags.pop("Name", None)
    return tags


def _quote_label_field(text: str, *, what: str) -> str:
    """Return one key or value as a field kops's CSV reader reads back unchanged."""
    if "," in text or "\n" in text or "\r" in text:
        raise SpecError(
            f"cloud label {what} {text!r} contains a comma or a line break, "
            "which kops --cloud-labels cannot carry"
        )
    if not text or text[0].isspace() or any(ch in text for ch in '="'):
        if not text:
            return text
        return '"' + text.replace('"', '""') + '"'
    return text


def format_cloud_labels(labels: Mapping[str, str]) -> str:
    """Return ``labels`` as one ``--cloud-labels`` value (sorted, quoted where kops needs it).

    Raises SpecError for a key kops reserves or a comma/line break it cannot carry.
    """
    fields = []
    for key in sorted(labels):
        if not key:
            raise SpecError("cloud label keys must not be empty")
        if key in RESERVED_LABEL_KEYS or key.startswith(RESERVED_LABEL_PREFIXES):
            raise SpecError(f"cloud label {key!r} is reserved by kops and cannot be set")
        value = labels[key]
        fields.append(
            f"{_quote_label_field(key, what='key')}={_quote_label_field(value, what='value')}"
        )
    return ",".join(fields)


def control_plane_zones(spec: EnvironmentSpec) -> list[str]:
    """Return the zones for ``--control-plane-zones``: one per control-plane node, at most all.

    kops refuses more control-plane zones than control-plane nodes, and spreads the nodes
    round-robin over the zones it is given.
    """
    return list(spec.zones[: min(spec.control_plane_count, len(spec.zones))])


def create_cluster_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops create cluster ... --yes`` for the spec."""
    argv = [
        "create",
        "cluster",
        spec.cluster_name,
        "--state",
        state_store,
        "--cloud",
        "aws",
        "--zones",
        ",".join(spec.zones),
        "--control-plane-zones",
        ",".join(control_plane_zones(spec)),
        "--control-plane-size",
        spec.control_plane_size,
        "--control-plane-count",
        str(spec.control_plane_count),
        "--node-size",
        spec.node_size,
        "--node-count",
        str(spec.node_count),
        "--node-volume-size",
        str(spec.node_volume_size),
        "--kubernetes-version",
        spec.kubernetes_version,
        "--networking",
        spec.networking,
        "--topology",
        spec.topology,
        "--dns",
        spec.dns,
    ]
    if spec.network_cidr is not None:
        argv += ["--network-cidr", str(spec.network_cidr)]
    labels = format_cloud_labels(cloud_labels(spec))
    if labels:
        argv += ["--cloud-labels", labels]
    if spec.load_balancer_controller == "aws-load-balancer-controller":
        # kops's managed addon; its validation requires cert-manager. `--set` names fields as
        # kops's internal API does: the addon is `spec.awsLoadBalancerController` in the
        # cluster's YAML but `spec.cloudProvider.aws.loadBalancerController` here (kops refuses
        # the YAML name: "field ... not found in *Cluster").
        argv += ["--set", "spec.certManager.enabled=true"]
        argv += ["--set", "spec.cloudProvider.aws.loadBalancerController.enabled=true"]
    argv.append("--yes")
    return argv


def update_cluster_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops update cluster NAME --yes``: build whatever the spec lacks."""
    return ["update", "cluster", spec.cluster_name, "--state", state_store, "--yes"]


def get_cluster_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops get cluster NAME -o json``."""
    return ["get", "cluster", spec.cluster_name, "--state", state_store, "-o", "json"]


def validate_cluster_argv(
    spec: EnvironmentSpec,
    state_store: str,
    *,
    wait: str | None = None,
    count: int | None = None,
) -> list[str]:
    """Return the argv of ``kops validate cluster --name NAME -o json`` (one attempt by default)."""
    argv = ["validate", "cluster", "--name", spec.cluster_name, "--state", state_store]
    argv += ["-o", "json"]
    if wait is not None:
        argv += ["--wait", wait]
    if count is not None:
        argv += ["--count", str(count)]
    return argv


def export_kubecfg_argv(spec: EnvironmentSpec, state_store: str, kubeconfig: str) -> list[str]:
    """Return the argv of ``kops export kubecfg NAME --admin=TTL --kubeconfig PATH``."""
    return [
        "export",
        "kubecfg",
        spec.cluster_name,
        "--state",
        state_store,
        f"--admin={spec.admin_credential_ttl}",
        "--kubeconfig",
        kubeconfig,
    ]


def delete_cluster_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops delete cluster NAME --yes``."""
    return ["delete", "cluster", spec.cluster_name, "--state", state_store, "--yes"]


def version_argv() -> list[str]:
    """Return the argv of ``kops version --short``."""
    return ["version", "--short"]


def kops_env(
    *, state_store: str, kubeconfig: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment for kops: ``base`` plus the state store and a private kubeconfig.

    ``KUBECONFIG`` points kops (which exports admin credentials on ``create cluster --yes`` and
    edits contexts on delete) at the project's file, never at the user's ``~/.kube/config``.
    """
    env = dict(base or {})
    env["KOPS_STATE_STORE"] = state_store
    env["KUBECONFIG"] = kubeconfig
    return env


def create_cluster_dry_run_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops create cluster ... --dry-run -o json``: kops's own preview.

    The same flags as ``create_cluster_argv`` without ``--yes``; kops prints the Cluster and its
    InstanceGroups and writes nothing (JSON, so the pure core reads it with the standard library).
    """
    argv = [arg for arg in create_cluster_argv(spec, state_store) if arg != "--yes"]
    return [*argv, "--dry-run", "-o", "json"]


def update_cluster_preview_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops update cluster --name NAME`` without ``--yes`` (a preview)."""
    return ["update", "cluster", "--name", spec.cluster_name, "--state", state_store]


def temporary_kubecfg_argv(
    spec: EnvironmentSpec, state_store: str, path: str, *, ttl: str = "10m"
) -> list[str]:
    """Return the argv of ``kops export kubecfg NAME --admin=TTL --kubeconfig PATH``, for a
    short-lived admin kubeconfig at ``path`` (a read of the cluster; kops signs it locally)."""
    return [
        "export",
        "kubecfg",
        spec.cluster_name,
        "--state",
        state_store,
        f"--admin={ttl}",
        "--kubeconfig",
        path,
    ]
