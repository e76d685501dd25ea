"""Whose is it? The ownership rules teardown and the sweep decide by (pure).

Ownership comes from tags. An IAM role or the state-store bucket is deleted only when it carries
the project's mark, because a role or bucket with a familiar name may well be someone else's.
kops marks its resources ``KubernetesCluster=<cluster>``, the cloud controller
``kubernetes.io/cluster/<cluster>``; ``=shared`` marks what the cluster only uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kops_nlb.core.naming import (
    BASTION_COMPONENT,
    CLUSTER_TAG,
    PROJECT,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
    cluster_tag_key,
    kops_role_prefixes,
)

# Instances in these states still exist (and hold their interfaces and volumes).
NOT_TERMINATED = ("pending", "running", "stopping", "stopped", "shutting-down")


# Every kind `inventory` reports, with the word used in summaries.
NOUNS = {
    "instances": "instance",
    "load_balancers": "load balancer",
    "target_groups": "target group",
    "security_groups": "security group",
    "network_interfaces": "network interface",
    "volumes": "volume",
    "vpcs": "VPC",
    "subnets": "subnet",
    "iam_roles": "IAM role",
    "instance_profiles": "instance profile",
}


@dataclass(frozen=True)
class Resource:
    """One thing found still tagged for the cluster."""

    kind: str
    id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""  # state, status, or (security groups) the group name


def owned_by_project(tags: Mapping[str, str], cluster: str) -> bool:
    """Tell whether tags mark a resource as made by this project for this cluster."""
    return tags.get(TAG_MANAGED_BY) == PROJECT and tags.get(TAG_CLUSTER) == cluster


def cluster_tagged(tags: Mapping[str, str], cluster: str) -> bool:
    """Tell whether a resource is the cluster's: kops's or the cloud controller's tag, or ours.

    ``kubernetes.io/cluster/<name>=shared`` marks something the cluster only uses (a shared VPC's
    subnets, say): never the cluster's to delete, and not counted as left.
    """
    if tags.get(cluster_tag_key(cluster)) == "shared":
        return False
    return (
        tags.get(CLUSTER_TAG) == cluster
        or cluster_tag_key(cluster) in tags
        or owned_by_project(tags, cluster)
    )


def cluster_filter_sets(cluster: str) -> list[list[dict[str, Any]]]:
    """Return EC2 filter lists, one per way a resource is tagged for the cluster (EC2 ANDs them).

    They also match ``shared`` resources; filter what they find with `cluster_tagged`.
    """
    return [
        [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}],
        [{"Name": "tag-key", "Values": [cluster_tag_key(cluster)]}],
        [
            {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        ],
    ]


def bastion_instance_filters(cluster: str) -> list[dict[str, Any]]:
    """Return DescribeInstances filters for every not-terminated bastion of the cluster, any VPC."""
    return [
        {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        {"Name": f"tag:{TAG_COMPONENT}", "Values": [BASTION_COMPONENT]},
        {"Name": "instance-state-name", "Values": list(NOT_TERMINATED)},
    ]


def profile_is_ours(profile_tags: Mapping[str, str], *, role_is_ours: bool, cluster: str) -> bool:
    """Tell whether the bastion's instance profile may go: tagged ours, or it holds our role."""
    return owned_by_project(profile_tags, cluster) or role_is_ours


def referencing_permissions(
    permissions: Iterable[Mapping[str, Any]], group_id: str
) -> list[dict[str, Any]]:
    """Return the parts of a group's rules that reference other groups, ready to revoke.

    A group cannot be deleted while another group's rule names it, so these go first. Address
    ranges stay (they block nothing), and so do references to the group itself.
    """
    revoke: list[dict[str, Any]] = []
    for permission in permissions:
        pairs = [
            {k: pair[k] for k in ("GroupId", "UserId") if pair.get(k)}
            for pair in permission.get("UserIdGroupPairs") or []
            if pair.get("GroupId") and pair.get("GroupId") != group_id
        ]
        if not pairs:
            continue
        rule: dict[str, Any] = {"IpProtocol": permission["IpProtocol"], "UserIdGroupPairs": pairs}
        for port in ("FromPort", "ToPort"):
            if port in permission:
                rule[port] = permission[port]
        revoke.append(rule)
    return revoke


def sweepable_group(group: Mapping[str, Any]) -> bool:
    """Tell whether the sweep may delete a group: not a default group (that goes with its VPC)."""
    return group.get("GroupName") != "default"


def left_reason(resource: Resource, cluster: str) -> str:
    """Return why a resource found after the sweep is still there, for the teardown report."""
    if resource.kind in {"vpcs", "subnets"}:
        return (
            "kops delete cluster deletes the cluster's network: run it again (it resumes), "
            "then the sweep"
        )
    if resource.kind in {"iam_roles", "instance_profiles"}:
        if resource.id.startswith(kops_role_prefixes()):
            return "made by kops: kops delete cluster deletes it (the project never does)"
        return f"not tagged {TAG_MANAGED_BY}={PROJECT}: not made by this project"
    if resource.kind == "security_groups" and resource.detail == "default":
        return "the VPC's default group: it goes with the VPC"
    if resource.kind in {"volumes", "network_interfaces"} and resource.detail:
        return f"{resource.detail}: only available ones are deleted"
    return "still present after the sweep"
