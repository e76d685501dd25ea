"""Cluster network: which subnets are the cluster's and of what kind, and the lookup in moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.spec import EnvironmentSpec
from tasks.network import cluster_network

pytestmark = pytest.mark.usefixtures("no_run_logger")


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
