"""The objects real kops prints for ``create cluster --dry-run -o yaml``, read back for asserting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

CONTROL_PLANE_ROLE = "Master"  # kops.k8s.io/v1alpha2 still says Master for the control plane
NODE_ROLE = "Node"
_DEPRECATED_FLAG = re.compile(r"^Flag --(\S+) has been deprecated, (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Rendered:
    """One Cluster and its InstanceGroups."""

    cluster: dict[str, Any]
    instance_groups: tuple[dict[str, Any], ...]

    @property
    def spec(self) -> dict[str, Any]:
        """The Cluster's spec."""
        return dict(self.cluster["spec"])

    def groups(self, role: str) -> list[dict[str, Any]]:
        """Return the instance groups of one role."""
        return [ig for ig in self.instance_groups if ig["spec"]["role"] == role]

    def subnet_zones(self, group: dict[str, Any]) -> set[str]:
        """Return the zones of the cluster subnets an instance group runs in."""
        by_name = {subnet["name"]: subnet["zone"] for subnet in self.spec["subnets"]}
        return {by_name[name] for name in group["spec"]["subnets"]}


def parse(stdout: str) -> Rendered:
    """Read kops's multi-document YAML; exactly one Cluster is expected."""
    documents = [doc for doc in yaml.safe_load_all(stdout) if doc]
    clusters = [doc for doc in documents if doc.get("kind") == "Cluster"]
    groups = tuple(doc for doc in documents if doc.get("kind") == "InstanceGroup")
    if len(clusters) != 1:
        kinds = [doc.get("kind") for doc in documents]
        raise AssertionError(f"expected one Cluster in kops's output, got kinds {kinds}")
    return Rendered(clusters[0], groups)


def deprecated_flags(stderr: str) -> list[str]:
    """Return cobra's ``Flag --x has been deprecated, ...`` warnings in kops's stderr."""
    return [f"--{flag}: {why}" for flag, why in _DEPRECATED_FLAG.findall(stderr)]
