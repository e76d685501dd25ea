"""Every name and tag the project makes or recognises, in one place (pure).

The project's own names are deterministic, so that a re-run finds what an earlier run made, and
tagged, so that teardown deletes only what carries the project's mark. The names and tags kops
and the cloud controller give their resources are here too, because the project finds by them.
"""

from __future__ import annotations

import hashlib

from kops_nlb.core.project import PROJECT
from kops_nlb.core.spec import EnvironmentSpec

# kops tags its VPC, subnets and groups with this key; the cloud controller uses the key below.
CLUSTER_TAG = "KubernetesCluster"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
NLB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
NLB_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
# cloud-provider-aws >= 1.34: target group attributes, "key=value,key=value"; it supports only
# preserve_client_ip.enabled and proxy_protocol_v2.enabled, and keeps the last values when
# the annotation is removed.
# The AWS Load Balancer Controller's annotations and the tags it puts on what it makes.
LBC_TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
LBC_SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
LBC_PROXY_PROTOCOL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
LBC_STACK_TAG = "service.k8s.aws/stack"
NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION = (
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
)
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
BASTION_COMPONENT = "bastion"
# The cloud controller names an NLB "a" + the Service UID without dashes, cut to 32 characters.
NLB_NAME_LENGTH = 32
TAG_MANAGED_BY = f"{PROJECT}/managed-by"
TAG_CLUSTER = f"{PROJECT}/cluster"
TAG_COMPONENT = f"{PROJECT}/component"
NLB_POLICY_NAME = "kops-nlb-flows-nlb-permissions"
SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def project_tags(spec: EnvironmentSpec, component: str) -> dict[str, str]:
    """Return the tags marking a resource as ours: user's extra tags first, ours win."""
    return {
        **spec.extra_tags,
        TAG_MANAGED_BY: PROJECT,
        TAG_CLUSTER: spec.cluster_name,
        TAG_COMPONENT: component,
        "Name": f"{component}.{spec.cluster_name}",
    }


def bastion_role_name(spec: EnvironmentSpec) -> str:
    """IAM role (and instance profile) of the SSM bastion; at most 64 characters."""
    name = f"ssm-bastion.{spec.cluster_name}"
    return name if len(name) <= 64 else f"ssm-bastion.{_short_hash(spec.cluster_name, 16)}"


def bastion_security_group_name(spec: EnvironmentSpec) -> str:
    """Security group of the SSM bastion."""
    return f"ssm-bastion.{spec.cluster_name}"


def bastion_client_token(spec: EnvironmentSpec, run_key: str) -> str:
    """RunInstances idempotency token: stable across retries of one flow run, new per run.

    A token must not be reused across runs: AWS keeps answering a used token with the instance it
    launched, even after that instance was terminated.
    """
    return f"{PROJECT}-{_short_hash(spec.cluster_name + '/' + run_key, 40)}"[:64]


def cluster_tag_key(cluster_name: str) -> str:
    """Return the tag key the cloud controller puts on everything of a cluster."""
    return f"kubernetes.io/cluster/{cluster_name}"


def nlb_name_for_service_uid(uid: str) -> str:
    """Return the NLB name the cloud controller derives from a Service UID."""
    return ("a" + uid.replace("-", ""))[:NLB_NAME_LENGTH]


def kops_role_prefixes() -> tuple[str, ...]:
    """Name prefixes of the IAM roles and instance profiles kops makes for a cluster."""
    return ("masters.", "nodes.", "bastions.")


def tags_to_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Turn AWS's [{'Key': k, 'Value': v}] into {k: v}."""
    return {t["Key"]: t["Value"] for t in tags or []}


def dict_to_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Turn {k: v} into AWS's [{'Key': k, 'Value': v}], sorted for stable requests."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
