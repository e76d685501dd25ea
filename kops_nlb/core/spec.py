"""The environment spec: everything the procedure varies, validated before anything is created.

One pydantic model is the parameter of every flow, so the Prefect UI renders it as a form and a
bad value fails the run at parameter validation, before the first AWS call.
"""

from __future__ import annotations

import hashlib
import re
from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kops_nlb.core.project import PROJECT

# kops 1.36 refuses Kubernetes < 1.31 and warns below 1.33; newer than itself is unsupported.
SUPPORTED_KUBERNETES_MINORS = range(33, 37)
# What kops 1.36's stable channel recommends for it (a patched 1.35; a .0 release gets kops's
# "a new kubernetes version is available" banner on every create).
DEFAULT_KUBERNETES_VERSION = "1.35.5"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_K8S_VERSION = re.compile(r"^v?1\.(\d+)\.(\d+)$")
_GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")
# A container image reference as the distribution grammar has it: an optional registry host
# (and port), lowercase path components, an optional tag and an optional sha256 digest.
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REFERENCE = re.compile(
    rf"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_TAG_KEY_FORBIDDEN_PREFIX = "aws:"
# Tag keys that say whose a resource is: kops's and the cloud controller's cluster marks, kops's
# reserved names, and the project's own. A user tag with one of them could mark our resources
# as another cluster's (whose `kops delete cluster` would then take them) or disown them.
RESERVED_TAG_KEYS = frozenset({"Name", "KubernetesCluster"})
RESERVED_TAG_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/role/", "kops.k8s.io/", f"{PROJECT}/")
# IAM role names are capped at 64 characters and kops names the control-plane role
# "masters.<cluster>", so the cluster name can use at most 64 - len("masters.") of them.
MAX_CLUSTER_NAME = 64 - len("masters.")
# Fields that were run parameters once and are the worker's settings now: a run must not choose a
# program to run or a file to write. Naming them gets an error that says where they went.
MOVED_TO_WORKER_SETTINGS = {
    "kops_executable": "KOPS_NLB_KOPS (the kops the worker runs)",
    "kubeconfig_path": "KOPS_NLB_KUBECONFIG_DIR (where the worker keeps admin kubeconfigs)",
}
# The negative control's Service is named after the main one.
CANARY_SUFFIX = "-canary"


class PollPolicy(BaseModel):
    """How often waits look again: exponential backoff from `initial` up to `cap` seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial: float = Field(default=1.0, gt=0, le=60)
    factor: float = Field(default=1.5, ge=1, le=4)
    cap: float = Field(default=5.0, gt=0, le=300)


class Timeouts(BaseModel):
    """Deadlines, in seconds, for each wait of the procedure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_valid: int = Field(default=1800, ge=1, le=7200)
    deployment_ready: int = Field(default=600, ge=1, le=3600)
    service_hostname: int = Field(default=600, ge=1, le=3600)
    nlb_active: int = Field(default=900, ge=1, le=3600)
    targets_healthy: int = Field(default=900, ge=1, le=3600)
    bastion_online: int = Field(default=900, ge=1, le=3600)
    kops_command: int = Field(default=1800, ge=1, le=7200)


class EnvironmentSpec(BaseModel):
    """One environment: a kops cluster, nginx behind an internal NLB, and an SSM bastion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: str = Field(
        default="nlb-demo.k8s.local",
        description="kops cluster name (a DNS-1123 subdomain); `.k8s.local` names need no DNS zone.",
    )
    region: str = "ap-northeast-1"
    zones: tuple[str, ...] = ("ap-northeast-1a", "ap-northeast-1c")
    control_plane_size: str = "t3.medium"
    control_plane_count: Literal[1, 3, 5] = 1
    node_size: str = "t3.medium"
    node_count: Annotated[int, Field(ge=1, le=50)] = 2
    node_volume_size: Annotated[int, Field(ge=8, le=16384, description="GiB")] = 20
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    networking: Literal["calico", "cilium", "amazonvpc", "flannel", "kindnet", "kube-router"] = (
        "calico"
    )
    topology: Literal["private", "public"] = "private"
    dns: Literal["none", "public", "private"] = "none"
    network_cidr: IPv4Network | None = Field(
        default=None, description="VPC CIDR; kops picks its default when empty."
    )
    state_store_bucket: str | None = Field(
        default=None,
        description="S3 bucket for kops state; derived from account, region and cluster when empty.",
    )
    nginx_image: str = "nginx:1.27"
    nginx_replicas: Annotated[int, Field(ge=1, le=20)] = 2
    namespace: str = "default"
    deployment_name: str = "nginx"
    service_name: str = "nginx"
    service_port: Annotated[int, Field(ge=1, le=65535)] = 80
    container_port: Annotated[int, Field(ge=1, le=65535)] = 80
    internal: bool = True
    external_traffic_policy: Literal["Local", "Cluster"] = "Local"
    load_balancer_controller: Literal["cloud-controller", "aws-load-balancer-controller"] = Field(
        default="cloud-controller",
        description=(
            "Who makes the NLB: the cloud controller kops always runs (instance targets), or "
            "the AWS Load Balancer Controller (kops addon, with cert-manager)."
        ),
    )
    target_type: Literal["instance", "ip"] = Field(
        default="instance",
        description=(
            "NLB target type: nodes (NodePort) or pods directly; ip needs the AWS Load Balancer "
            "Controller and amazonvpc networking."
        ),
    )
    preserve_client_ip: bool | None = Field(
        default=None,
        description=(
            "The NLB target group's preserve_client_ip.enabled, asked with the "
            "target-group-attributes annotation; empty keeps AWS's default (on for instance "
            "targets, off for ip targets over TCP)."
        ),
    )
    proxy_protocol_v2: bool = Field(
        default=False,
        description=(
            "Send the client address in a PROXY v2 header (target group attribute "
            "proxy_protocol_v2.enabled); nginx then listens with proxy_protocol and logs "
            "$proxy_protocol_addr. Needs externalTrafficPolicy Cluster."
        ),
    )
    negative_control: bool = Field(
        default=False,
        description=(
            "Also keep a canary Service over the same nginx pods under externalTrafficPolicy "
            "Cluster, behind its own internal NLB, and fail verify unless its probes show node "
            "addresses: proof that the check can tell the policies apart (costs a second NLB)."
        ),
    )
    bastion_instance_type: str = "t3.micro"
    extra_tags: dict[str, str] = Field(default_factory=dict)
    admin_credential_ttl: str = Field(
        default="2h", description="Lifetime of the exported admin credentials (Go duration)."
    )
    timeouts: Timeouts = Timeouts()
    poll: PollPolicy = PollPolicy()

    @model_validator(mode="before")
    @classmethod
    def _no_worker_settings(cls, data: object) -> object:
        if isinstance(data, dict):
            moved = sorted(set(data) & set(MOVED_TO_WORKER_SETTINGS))
            if moved:
                where = "; ".join(f"{name}: set {MOVED_TO_WORKER_SETTINGS[name]}" for name in moved)
                raise ValueError(
                    f"{', '.join(moved)} is not a run parameter: it is the worker's setting, "
                    f"read from its environment ({where})"
                )
        return data

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name_is_dns_subdomain(cls, value: str) -> str:
        if len(value) > MAX_CLUSTER_NAME:
            raise ValueError(
                f"must be at most {MAX_CLUSTER_NAME} characters so the IAM role "
                f"'masters.{value}' fits in 64, got {len(value)}"
            )
        labels = value.split(".")
        if len(labels) < 2 or not all(
            _DNS_LABEL.match(label) and len(label) <= 63 for label in labels
        ):
            raise ValueError(
                f"{value!r} is not a DNS-1123 subdomain with at least two labels "
                "(lowercase letters, digits and '-', dot-separated, e.g. 'nlb-demo.k8s.local')"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name such as 'ap-northeast-1'")
        return value

    @field_validator("control_plane_size", "node_size", "bastion_instance_type")
    @classmethod
    def _instance_type_shape(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError(f"{value!r} is not an EC2 instance type such as 't3.medium'")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_kubernetes(cls, value: str) -> str:
        match = _K8S_VERSION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a Kubernetes version such as '1.35.0'")
        minor = int(match.group(1))
        if minor not in SUPPORTED_KUBERNETES_MINORS:
            low, high = SUPPORTED_KUBERNETES_MINORS[0], SUPPORTED_KUBERNETES_MINORS[-1]
            raise ValueError(
                f"Kubernetes {value} is not supported by kops 1.36; use 1.{low}.x to 1.{high}.x"
            )
        return value.removeprefix("v")

    @field_validator("state_store_bucket")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _BUCKET.match(value) or ".." in value or re.match(r"^\d+\.\d+\.\d+\.\d+$", value):
            raise ValueError(f"{value!r} is not a valid S3 bucket name (3-63 lowercase characters)")
        return value

    @field_validator("namespace", "deployment_name", "service_name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase, digits, '-', <= 63)")
        return value

    @field_validator("nginx_image")
    @classmethod
    def _image_reference(cls, value: str) -> str:
        if len(value) > 255 or not _IMAGE_REFERENCE.match(value):
            raise ValueError(
                f"{value!r} is not a container image reference such as 'nginx:1.27' or "
                "'registry.example.com/team/nginx:1.27'"
            )
        return value

    @field_validator("extra_tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if not key or len(key) > 128 or key.lower().startswith(_TAG_KEY_FORBIDDEN_PREFIX):
                raise ValueError(
                    f"tag key {key!r} must be 1-128 characters and not start with 'aws:'"
                )
            if key in RESERVED_TAG_KEYS or key.startswith(RESERVED_TAG_PREFIXES):
                raise ValueError(
                    f"tag key {key!r} is reserved: it says which cluster or project owns a "
                    "resource, so kops, the cloud controller and this project set it themselves"
                )
            if len(tag_value) > 256:
                raise ValueError(f"tag {key!r} has a value longer than 256 characters")
        if len(value) > 40:
            raise ValueError(
                "at most 40 extra tags (AWS allows 50 per resource, the project uses some)"
            )
        return value

    @field_validator("admin_credential_ttl")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not value or not _GO_DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration such as '2h' or '90m'")
        return value

    @model_validator(mode="after")
    def _gossip_names_need_no_dns(self) -> EnvironmentSpec:
        # kops accepts --dns public|private for a .k8s.local name, but such a name can have no
        # Route 53 zone, so the cluster would never come up.
        if self.cluster_name.endswith(".k8s.local") and self.dns != "none":
            raise ValueError(
                f"dns {self.dns!r} needs a Route 53 zone, which a '.k8s.local' cluster name "
                "cannot have: use dns 'none', or a cluster name in a hosted zone"
            )
        return self

    @model_validator(mode="after")
    def _zones_in_region(self) -> EnvironmentSpec:
        if not self.zones:
            raise ValueError("zones: at least one availability zone is needed")
        if len(set(self.zones)) != len(self.zones):
            raise ValueError(f"zones: {list(self.zones)} lists a zone twice")
        foreign = [z for z in self.zones if not re.fullmatch(re.escape(self.region) + r"[a-z]", z)]
        if foreign:
            raise ValueError(f"zones {foreign} are not zones of region {self.region}")
        return self

    @model_validator(mode="after")
    def _canary_name_fits(self) -> EnvironmentSpec:
        if self.negative_control and len(self.canary_service_name) > 63:
            raise ValueError(
                f"negative_control names its Service {self.canary_service_name!r}, longer than "
                f"63 characters: shorten service_name to at most {63 - len(CANARY_SUFFIX)}"
            )
        return self

    @model_validator(mode="after")
    def _load_balancer_mode_works_on_aws(self) -> EnvironmentSpec:
        # Combinations AWS documents as broken, refused before anything is created.
        if self.target_type == "ip" and self.load_balancer_controller == "cloud-controller":
            raise ValueError(
                "target_type 'ip' needs load_balancer_controller 'aws-load-balancer-controller': "
                "the cloud controller's NLBs always use instance targets"
            )
        if self.target_type == "ip" and self.networking != "amazonvpc":
            raise ValueError(
                f"target_type 'ip' needs VPC-routable pod addresses, i.e. networking 'amazonvpc': "
                f"with {self.networking!r} the pods live on an overlay the NLB cannot reach"
            )
        if self.negative_control and self.target_type == "ip":
            raise ValueError(
                "negative_control cannot work with ip targets: the NLB reaches the pods without "
                "kube-proxy, so externalTrafficPolicy Cluster changes nothing for the canary"
            )
        if (
            self.proxy_protocol_v2
            and self.target_type == "instance"
            and self.external_traffic_policy == "Local"
        ):
            raise ValueError(
                "proxy_protocol_v2 with instance targets and externalTrafficPolicy Local does "
                "not work on AWS: the NLB's health check then goes to kube-proxy's health-check "
                "node port (/healthz), which does not speak PROXY, so every target fails it; "
                "use externalTrafficPolicy Cluster (the PROXY header carries the client address)"
            )
        if self.negative_control and self.proxy_protocol_v2:
            raise ValueError(
                "negative_control cannot work with proxy_protocol_v2: the PROXY header carries "
                "the client address under Cluster too, so a Cluster canary would show it as well"
            )
        return self

    @property
    def canary_service_name(self) -> str:
        """The negative control's Service: the main Service's name with ``-canary``."""
        return f"{self.service_name}{CANARY_SUFFIX}"

    def negative_control_spec(self) -> EnvironmentSpec:
        """Return the canary's environment: the same nginx pods behind a second Service, under
        ``Cluster``, where the NLB must deliver node addresses instead of the client's."""
        return self.model_copy(
            update={
                "service_name": self.canary_service_name,
                "external_traffic_policy": "Cluster",
                "negative_control": False,
            }
        )

    @property
    def control_plane_role(self) -> str:
        """The IAM role kops gives the control-plane nodes."""
        return f"masters.{self.cluster_name}"

    def bucket_for(self, account_id: str) -> str:
        """The state-store bucket: the given one, or one derived so that re-runs find it again."""
        if self.state_store_bucket:
            return self.state_store_bucket
        return derive_state_bucket(
            account_id=account_id, region=self.region, cluster=self.cluster_name
        )


def derive_state_bucket(*, account_id: str, region: str, cluster: str) -> str:
    """Return the deterministic state-store bucket name for an account, region and cluster."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:8]
    return f"kops-state-{account_id}-{region}-{digest}"
