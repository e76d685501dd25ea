"""What ``kops get instancegroups -o json`` says of a cluster's spec, and whether it is whole.

``kops create cluster --yes`` writes the Cluster, then each InstanceGroup, into the state store
before it touches the cloud. A write that fails half-way (S3 throttling, say) leaves a cluster
kops knows with fewer instance groups than the spec asked for: ``kops update cluster`` then
refuses it ("must configure at least one Node InstanceGroup") or builds a smaller cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kops_nlb.core.spec import EnvironmentSpec

CONTROL_PLANE_ROLES = frozenset({"Master", "ControlPlane"})


@dataclass(frozen=True)
class GroupSizes:
    """Machines the cluster's instance groups ask for, per role (their ``minSize``)."""

    control_plane: int
    nodes: int


def get_instancegroups_argv(spec: EnvironmentSpec, state_store: str) -> list[str]:
    """Return the argv of ``kops get instancegroups --name NAME -o json``."""
    return [
        "get",
        "instancegroups",
        "--name",
        spec.cluster_name,
        "--state",
        state_store,
        "-o",
        "json",
    ]


def parse_group_sizes(stdout: str) -> GroupSizes:
    """Sum the instance groups' ``minSize`` per role; raise ValueError on output that is not
    kops's list of InstanceGroups."""
    groups: Any = json.loads(stdout) if stdout.strip() else []
    if isinstance(groups, dict):
        groups = [groups]
    control_plane = nodes = 0
    for group in groups:
        if not isinstance(group, dict) or group.get("kind") != "InstanceGroup":
            raise ValueError(f"not a kops InstanceGroup: {str(group)[:200]}")
        spec = group.get("spec") or {}
        size = int(spec.get("minSize") or 0)
        if spec.get("role") in CONTROL_PLANE_ROLES:
            control_plane += size
        elif spec.get("role") == "Node":
            nodes += size
    return GroupSizes(control_plane=control_plane, nodes=nodes)


def is_partial(sizes: GroupSizes, spec: EnvironmentSpec) -> bool:
    """Whether the state store's spec lacks instance groups the product's spec asks for."""
    return sizes.control_plane < spec.control_plane_count or sizes.nodes < spec.node_count
