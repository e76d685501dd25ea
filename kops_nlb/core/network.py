"""The cluster's VPC and subnets, recognised the way kops marks them (pure).

kops tags its VPC and subnets ``KubernetesCluster=<cluster>``, names subnets
``<subnet>.<cluster>`` (``<zone>`` for private/public ones, ``utility-<zone>`` for utility ones)
and records the kind in ``SubnetType`` (Private, Utility, Public, DualStack). A shared VPC
carries no kops tags, so the VPC is also found through the cluster's subnets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import CLUSTER_TAG, tags_to_dict

SUBNET_TYPE_TAG = "SubnetType"


class Subnet(BaseModel):
    """One subnet of the cluster."""

    model_config = ConfigDict(frozen=True)

    subnet_id: str
    zone: str
    cidr: str
    kind: str  # kops SubnetType: Private, Utility, Public or DualStack
    name: str = ""


class ClusterNetwork(BaseModel):
    """The cluster's VPC and its subnets by kind, each tuple in zone order."""

    model_config = ConfigDict(frozen=True)

    vpc_id: str
    cidr: str
    private: tuple[Subnet, ...] = ()
    utility: tuple[Subnet, ...] = ()
    public: tuple[Subnet, ...] = ()

    def private_by_zone(self) -> dict[str, Subnet]:
        """Return the first private subnet of each zone."""
        return _first_by_zone(self.private)

    def utility_by_zone(self) -> dict[str, Subnet]:
        """Return the first utility subnet of each zone."""
        return _first_by_zone(self.utility)


def _first_by_zone(subnets: Iterable[Subnet]) -> dict[str, Subnet]:
    by_zone: dict[str, Subnet] = {}
    for subnet in subnets:
        by_zone.setdefault(subnet.zone, subnet)
    return by_zone


def subnet_kind(tags: Mapping[str, str], *, cluster: str, topology: str) -> str | None:
    """Return the kops kind of a subnet from its tags, or None when it is not the cluster's.

    Without a ``SubnetType`` tag the name decides: ``utility-<zone>.<cluster>`` is Utility and
    ``<zone>.<cluster>`` is Private or Public by the cluster's topology.
    """
    name = tags.get("Name", "")
    ours = tags.get(CLUSTER_TAG) == cluster or name.endswith(f".{cluster}")
    if not ours:
        return None
    if tags.get(SUBNET_TYPE_TAG):
        return tags[SUBNET_TYPE_TAG]
    if name.startswith("utility-"):
        return "Utility"
    if name.endswith(f".{cluster}"):
        return "Private" if topology == "private" else "Public"
    return None


def classify_subnets(
    subnets: Iterable[Mapping[str, Any]], *, cluster: str, topology: str
) -> dict[str, tuple[Subnet, ...]]:
    """Return the cluster's subnets grouped by kind, sorted by zone then subnet id."""
    groups: dict[str, list[Subnet]] = {}
    for raw in subnets:
        tags = tags_to_dict(raw.get("Tags"))
        kind = subnet_kind(tags, cluster=cluster, topology=topology)
        if kind is None:
            continue
        groups.setdefault(kind, []).append(
            Subnet(
                subnet_id=raw["SubnetId"],
                zone=raw["AvailabilityZone"],
                cidr=raw.get("CidrBlock", ""),
                kind=kind,
                name=tags.get("Name", ""),
            )
        )
    return {
        kind: tuple(sorted(items, key=lambda s: (s.zone, s.subnet_id)))
        for kind, items in groups.items()
    }


def pick_vpc_id(tagged_vpc_ids: Iterable[str], subnet_vpc_ids: Iterable[str]) -> str | None:
    """Return the cluster's VPC: the tagged one, else the one its subnets are in (None if neither).

    Raises ConflictError when the tags point at more than one VPC.
    """
    for source, ids in (("VPCs", set(tagged_vpc_ids)), ("subnets in VPCs", set(subnet_vpc_ids))):
        if len(ids) > 1:
            raise ConflictError(
                f"{CLUSTER_TAG} tags of more than one cluster found ({source} {sorted(ids)})"
            )
        if ids:
            return ids.pop()
    return None


def to_cluster_network(
    vpc: Mapping[str, Any], subnets: Iterable[Mapping[str, Any]], *, cluster: str, topology: str
) -> ClusterNetwork:
    """Return the ClusterNetwork of a DescribeVpcs entry and the subnets in that VPC."""
    groups = classify_subnets(subnets, cluster=cluster, topology=topology)
    return ClusterNetwork(
        vpc_id=vpc["VpcId"],
        cidr=vpc["CidrBlock"],
        private=groups.get("Private", ()),
        utility=groups.get("Utility", ()),
        public=groups.get("Public", ()),
    )
