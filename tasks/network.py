"""The cluster's VPC and subnets, as kops made them."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import ec2_network
from kops_nlb.core.network import ClusterNetwork, to_cluster_network
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def cluster_network(spec: EnvironmentSpec) -> ClusterNetwork:
    """Return the cluster's VPC and subnets; fails when the cluster's VPC does not exist."""
    vpc, subnets = ec2_network.cluster_vpc_and_subnets(spec.region, spec.cluster_name)
    network = to_cluster_network(vpc, subnets, cluster=spec.cluster_name, topology=spec.topology)
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


@task(**RETRY_OPTIONS)
def find_cluster_network(spec: EnvironmentSpec) -> ClusterNetwork | None:
    """Return the cluster's VPC and subnets, or None when the cluster's VPC does not exist."""
    found = ec2_network.find_cluster_vpc_and_subnets(spec.region, spec.cluster_name)
    if found is None:
        return None
    vpc, subnets = found
    return to_cluster_network(vpc, subnets, cluster=spec.cluster_name, topology=spec.topology)
