"""The cluster's VPC and subnets, found the way kops marks them.

kops tags its VPC and subnets ``KubernetesCluster=<cluster>``, names subnets
``<subnet>.<cluster>`` (``<zone>`` for private/public ones, ``utility-<zone>`` for utility ones)
and records the kind in ``SubnetType`` (Private, Utility, Public, DualStack). A shared VPC
carries no kops tags, so the VPC is also found through the cluster's subnets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.core.errors import ConflictError, KopsNlbError, aws_failure
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS

CLUSTER_TAG = "KubernetesCluster"
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


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def cluster_network(spec: EnvironmentSpec) -> ClusterNetwork:
    """Return the cluster's VPC and subnets; fails when the cluster's VPC does not exist."""
    ec2 = aws_client("ec2", spec.region)
    tag_filter = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [spec.cluster_name]}]
    try:
        vpcs = paginate(ec2, "describe_vpcs", "Vpcs", Filters=tag_filter)
        tagged_subnets = paginate(ec2, "describe_subnets", "Subnets", Filters=tag_filter)
        vpc_id = pick_vpc_id([v["VpcId"] for v in vpcs], [s["VpcId"] for s in tagged_subnets])
        if vpc_id is None:
            raise KopsNlbError(
                f"no VPC of cluster {spec.cluster_name} in {spec.region} (nothing tagged "
                f"{CLUSTER_TAG}={spec.cluster_name}): has the cluster been created?"
            )
        vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        subnets = paginate(
            ec2, "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
    except ClientError as e:
        raise aws_failure(f"describe the VPC and subnets of cluster {spec.cluster_name}", e) from e
    groups = classify_subnets(subnets, cluster=spec.cluster_name, topology=spec.topology)
    network = ClusterNetwork(
        vpc_id=vpc_id,
        cidr=vpc["CidrBlock"],
        private=groups.get("Private", ()),
        utility=groups.get("Utility", ()),
        public=groups.get("Public", ()),
    )
    get_run_logger().info(
        "cluster %s: VPC %s (%s), %d private, %d utility, %d public subnets",
        spec.cluster_name,
        network.vpc_id,
        network.cidr,
        len(network.private),
        len(network.utility),
        len(network.public),
    )
    return network
