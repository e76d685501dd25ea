"""Cluster network: which subnets are the cluster's and of what kind, and the lookup in moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.errors import ConflictError, KopsNlbError
from kops_nlb.core.network import Subnet, classify_subnets, pick_vpc_id, subnet_kind
from kops_nlb.core.spec import EnvironmentSpec
from tasks.network import ClusterNetwork, cluster_network

pytestmark = pytest.mark.usefixtures("no_run_logger")

CLUSTER = "nlb-demo.k8s.local"


@pytest.mark.parametrize(
    ("tags", "topology", "kind"),
    [
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Utility"}, "private", "Utility"),
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Private"}, "private", "Private"),
        ({"KubernetesCluster": CLUSTER, "SubnetType": "Public"}, "public", "Public"),
        ({"Name": f"utility-ap-northeast-1a.{CLUSTER}"}, "private", "Utility"),
        ({"Name": f"ap-northeast-1a.{CLUSTER}"}, "private", "Private"),
        ({"Name": f"ap-northeast-1a.{CLUSTER}"}, "public", "Public"),
        ({"KubernetesCluster": "other.k8s.local", "SubnetType": "Utility"}, "private", None),
        ({"Name": "default-subnet"}, "private", None),
        ({}, "private", None),
    ],
    ids=[
        "tag-utility",
        "tag-private",
        "tag-public",
        "name-utility",
        "name-private-topology",
        "name-public-topology",
        "other-cluster",
        "foreign-name",
        "untagged",
    ],
)
def test_subnet_kind(tags: dict[str, str], topology: str, kind: str | None) -> None:
    assert subnet_kind(tags, cluster=CLUSTER, topology=topology) == kind


def raw_subnet(subnet_id: str, zone: str, kind: str) -> dict[str, Any]:
    return {
        "SubnetId": subnet_id,
        "AvailabilityZone": zone,
        "CidrBlock": "172.20.0.0/22",
        "Tags": [
            {"Key": "KubernetesCluster", "Value": CLUSTER},
            {"Key": "SubnetType", "Value": kind},
        ],
    }


def test_classify_subnets_groups_by_kind_in_zone_order() -> None:
    groups = classify_subnets(
        [
            raw_subnet("subnet-3", "ap-northeast-1c", "Utility"),
            raw_subnet("subnet-2", "ap-northeast-1a", "Utility"),
            raw_subnet("subnet-1", "ap-northeast-1a", "Private"),
            {"SubnetId": "subnet-9", "AvailabilityZone": "ap-northeast-1a", "Tags": []},
        ],
        cluster=CLUSTER,
        topology="private",
    )
    assert {kind: [s.subnet_id for s in subnets] for kind, subnets in groups.items()} == {
        "Utility": ["subnet-2", "subnet-3"],
        "Private": ["subnet-1"],
    }


@pytest.mark.parametrize(
    ("tagged", "via_subnets", "vpc"),
    [
        (["vpc-1"], ["vpc-1", "vpc-1"], "vpc-1"),
        ([], ["vpc-2", "vpc-2"], "vpc-2"),
        ([], [], None),
    ],
    ids=["tagged-vpc", "shared-vpc-via-subnets", "none"],
)
def test_pick_vpc_id(tagged: list[str], via_subnets: list[str], vpc: str | None) -> None:
    assert pick_vpc_id(tagged, via_subnets) == vpc


def test_two_tagged_vpcs_are_a_conflict() -> None:
    with pytest.raises(ConflictError, match=r"more than one cluster.*vpc-1.*vpc-2"):
        pick_vpc_id(["vpc-2", "vpc-1"], [])


def test_utility_by_zone_takes_the_first_of_each_zone() -> None:
    def sub(subnet_id: str, zone: str) -> Subnet:
        return Subnet(subnet_id=subnet_id, zone=zone, cidr="", kind="Utility")

    network = ClusterNetwork(
        vpc_id="vpc-1", cidr="", utility=(sub("s-1", "z-a"), sub("s-2", "z-a"), sub("s-3", "z-c"))
    )
    assert {z: s.subnet_id for z, s in network.utility_by_zone().items()} == {
        "z-a": "s-1",
        "z-c": "s-3",
    }


def test_cluster_network_from_kops_tags(kops_vpc: dict[str, str], spec: EnvironmentSpec) -> None:
    network = cluster_network.fn(spec)

    assert (network.vpc_id, network.cidr) == (kops_vpc["vpc"], "172.20.0.0/16")
    assert [(s.zone, s.subnet_id, s.cidr) for s in network.utility] == [
        ("ap-northeast-1a", kops_vpc["utility-ap-northeast-1a"], "172.20.0.0/22"),
        ("ap-northeast-1c", kops_vpc["utility-ap-northeast-1c"], "172.20.4.0/22"),
    ]
    assert [(s.zone, s.subnet_id) for s in network.private] == [
        ("ap-northeast-1a", kops_vpc["private-ap-northeast-1a"]),
        ("ap-northeast-1c", kops_vpc["private-ap-northeast-1c"]),
    ]
    assert network.public == ()
    assert network.utility[0].name == f"utility-ap-northeast-1a.{spec.cluster_name}"


def test_shared_vpc_is_found_through_the_subnets(
    kops_vpc: dict[str, str], spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    ec2 = boto("ec2")
    ec2.delete_tags(Resources=[kops_vpc["vpc"]], Tags=[{"Key": "KubernetesCluster"}])

    assert cluster_network.fn(spec).vpc_id == kops_vpc["vpc"]


@pytest.mark.usefixtures("aws")
def test_missing_vpc_is_a_clear_error(spec: EnvironmentSpec) -> None:
    with pytest.raises(
        KopsNlbError, match=r"no VPC of cluster nlb-demo\.k8s\.local.*has the cluster been created"
    ):
        cluster_network.fn(spec)
