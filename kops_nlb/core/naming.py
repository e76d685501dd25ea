"""Names and tags of what the project creates itself (not what kops or the cloud controller make).

Deterministic, so that a re-run finds what an earlier run made, and tagged, so that teardown
deletes only what carries the project's mark.
"""

from __future__ import annotations

import hashlib

from kops_nlb.core.spec import EnvironmentSpec

PROJECT = "kops-nlb-flows"
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
