"""kops's command line as cobra/pflag parse it: the commands and their flags.

The tables follow kops v1.36.2 cmd/kops/*.go; ``parsing`` reads a command line against them.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ADMIN = "18h0m0s"


# --- flags -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One pflag flag: its type, shorthand, optional value and deprecation."""

    name: str
    kind: str = "string"  # bool | string | int | duration | strings
    shorthand: str | None = None
    no_opt: str | None = None
    deprecated: str | None = None
    dest: str | None = None  # deprecated aliases write into their replacement

    @property
    def key(self) -> str:
        """Where the value is stored."""
        return self.dest or self.name


def _flags(*items: Flag) -> dict[str, Flag]:
    return {flag.name: flag for flag in items}


GLOBAL_FLAGS = _flags(
    Flag("state"),
    Flag("name"),
    Flag("config"),
    Flag("v", "int", shorthand="v"),
    Flag("help", "bool", shorthand="h"),
    Flag("logtostderr", "bool"),
    Flag("alsologtostderr", "bool"),
    Flag("stderrthreshold"),
    Flag("vmodule"),
    Flag("log_dir"),
    Flag("add_dir_header", "bool"),
    Flag("skip_headers", "bool"),
)


def _deprecated(name: str, dest: str, kind: str = "string", why: str | None = None) -> Flag:
    return Flag(name, kind, deprecated=why or f"use --{dest} instead", dest=dest)


# kops v1.36.2 cmd/kops/create_cluster.go; feature-flagged flags (config-base, discovery-service,
# add, azure-*, spotinst-*, api-server-count) are absent unless their flag is enabled: unknown.
CREATE_CLUSTER_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("target"),
    Flag("discovery-store"),
    Flag("cloud"),
    Flag("zones", "strings"),
    _deprecated("master-zones", "control-plane-zones", "strings"),
    Flag("control-plane-zones", "strings"),
    Flag("kubernetes-version"),
    Flag("kubernetes-feature-gates", "strings"),
    Flag("container-runtime", deprecated="containerd is the only supported value"),
    Flag("ssh-public-key"),
    _deprecated("master-count", "control-plane-count", "int"),
    Flag("control-plane-count", "int"),
    Flag("node-count", "int"),
    Flag("image"),
    Flag("node-image"),
    _deprecated("master-image", "control-plane-image"),
    Flag("control-plane-image"),
    Flag("bastion-image"),
    Flag("node-size", "strings"),
    _deprecated("master-size", "control-plane-size", "strings"),
    Flag("control-plane-size", "strings"),
    _deprecated("master-volume-size", "control-plane-volume-size", "int"),
    Flag("control-plane-volume-size", "int"),
    Flag("node-volume-size", "int"),
    Flag("node-volume-type"),
    Flag("control-plane-volume-type"),
    _deprecated("vpc", "network-id"),
    Flag("network-id"),
    Flag("subnets", "strings"),
    Flag("utility-subnets", "strings"),
    Flag("network-cidr", "strings"),
    Flag("disable-subnet-tags", "bool"),
    Flag("etcd-clusters", "strings"),
    Flag("encrypt-etcd-storage", "bool"),
    Flag("etcd-storage-type"),
    Flag("networking"),
    Flag("dns-zone"),
    Flag("out"),
    Flag("admin-access", "strings"),
    Flag("ssh-access", "strings"),
    Flag("associate-public-ip", "bool"),
    Flag("ipv6", "bool"),
    Flag("node-security-groups", "strings"),
    _deprecated("master-security-groups", "control-plane-security-groups", "strings"),
    Flag("control-plane-security-groups", "strings"),
    Flag("channel"),
    Flag("topology", shorthand="t"),
    Flag("authorization"),
    Flag("dns"),
    Flag("bastion", "bool"),
    Flag("cloud-labels"),
    _deprecated("master-tenancy", "control-plane-tenancy"),
    Flag("control-plane-tenancy"),
    Flag("node-tenancy"),
    Flag(
        "api-loadbalancer-class",
        deprecated="network load balancer should be used for all newly created clusters",
    ),
    Flag("api-loadbalancer-type"),
    Flag("api-ssl-certificate"),
    _deprecated("master-public-name", "api-public-name"),
    Flag("api-public-name"),
    Flag("dry-run", "bool"),
    Flag("output", shorthand="o"),
    _deprecated("override", "set", "strings"),
    Flag("set", "strings"),
    Flag("unset", "strings"),
    Flag("project"),
    Flag("gce-service-account"),
    Flag("os-ext-net"),
    Flag("os-ext-subnet"),
    Flag("os-lb-floating-subnet"),
    Flag("os-kubelet-ignore-az", "bool"),
    Flag("os-octavia", "bool"),
    Flag("os-octavia-provider"),
    Flag("os-dns-servers"),
    Flag("os-network"),
    Flag("instance-manager"),
)
UPDATE_CLUSTER_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("target"),
    Flag("ssh-public-key"),
    Flag("out"),
    Flag("create-kube-config", "bool"),
    Flag("admin", "duration", no_opt=DEFAULT_ADMIN),
    Flag("user"),
    Flag("internal", "bool"),
    Flag("allow-kops-downgrade", "bool"),
    Flag("lifecycle-overrides", "strings"),
    Flag("phase"),
    Flag("prune", "bool"),
    Flag("ignore-kubelet-version-skew", "bool"),
)
GET_FLAGS = _flags(Flag("output", shorthand="o"), Flag("full", "bool"))
VALIDATE_FLAGS = _flags(
    Flag("output", shorthand="o"),
    Flag("wait", "duration"),
    Flag("count", "int"),
    Flag("interval", "duration"),
    Flag("kubeconfig"),
    Flag("api-server"),
    Flag("use-kubeconfig", "bool"),
)
EXPORT_FLAGS = _flags(
    Flag("kubeconfig"),
    Flag("all", "bool"),
    Flag("admin", "duration", no_opt=DEFAULT_ADMIN),
    Flag("user"),
    Flag("internal", "bool"),
    Flag("auth-plugin", "bool"),
    Flag("api-server"),
)
DELETE_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("unregister", "bool"),
    Flag("external", "bool"),
    Flag("region"),
    Flag("wait", "duration"),
    Flag("count", "int"),
    Flag("interval", "duration"),
)
VERSION_FLAGS = _flags(Flag("short", "bool"), Flag("server", "bool"))

COMMANDS: dict[str, dict[str, tuple[str, dict[str, Flag]]]] = {
    "create": {"cluster": ("create cluster", CREATE_CLUSTER_FLAGS)},
    "update": {"cluster": ("update cluster", UPDATE_CLUSTER_FLAGS)},
    "get": {
        "cluster": ("get clusters", GET_FLAGS),
        "clusters": ("get clusters", GET_FLAGS),
        "instancegroups": ("get instancegroups", GET_FLAGS),
        "instancegroup": ("get instancegroups", GET_FLAGS),
        "ig": ("get instancegroups", GET_FLAGS),
    },
    "validate": {"cluster": ("validate cluster", VALIDATE_FLAGS)},
    "export": {
        "kubeconfig": ("export kubeconfig", EXPORT_FLAGS),
        "kubecfg": ("export kubeconfig", EXPORT_FLAGS),
    },
    "delete": {"cluster": ("delete cluster", DELETE_FLAGS)},
}
USES = {
    "create cluster": "kops create cluster [CLUSTER] [flags]",
    "update cluster": "kops update cluster [CLUSTER] [flags]",
    "get clusters": "kops get clusters [CLUSTER]... [flags]",
    "get instancegroups": "kops get instancegroups [INSTANCE_GROUP]... [flags]",
    "validate cluster": "kops validate cluster [CLUSTER] [flags]",
    "export kubeconfig": "kops export kubeconfig [CLUSTER | --all] [flags]",
    "delete cluster": "kops delete cluster [CLUSTER] [flags]",
    "version": "kops version [flags]",
}
