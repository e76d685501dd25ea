"""EC2: the cluster's VPC and subnets, found by kops's tags."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.naming import CLUSTER_TAG
from kops_nlb.core.network import pick_vpc_id
from kops_nlb.core.nlb import NlbInterface, eni_description, to_nlb_interface


def cluster_vpc_and_subnets(
    region: str, cluster: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the cluster's VPC and every subnet in it; fails when no VPC is the cluster's."""
    found = find_cluster_vpc_and_subnets(region, cluster)
    if found is None:
        raise KopsNlbError(
            f"no VPC of cluster {cluster} in {region} (nothing tagged "
            f"{CLUSTER_TAG}={cluster}): has the cluster been created?"
        )
    return found


def find_cluster_vpc_and_subnets(
    region: str, cluster: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Return the cluster's VPC and every subnet in it, or None when no VPC is the cluster's."""
    ec2 = aws_client("ec2", region)
    tag_filter = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
    try:
        vpcs = paginate(ec2, "describe_vpcs", "Vpcs", Filters=tag_filter)
        tagged_subnets = paginate(ec2, "describe_subnets", "Subnets", Filters=tag_filter)
        vpc_id = pick_vpc_id([v["VpcId"] for v in vpcs], [s["VpcId"] for s in tagged_subnets])
        if vpc_id is None:
            return None
        vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        subnets = paginate(
            ec2, "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
    except ClientError as e:
        raise aws_failure(f"describe the VPC and subnets of cluster {cluster}", e) from e
    return vpc, subnets


def nlb_network_interfaces(region: str, nlb_arn: str) -> list[NlbInterface]:
    """Return a load balancer's network interfaces (one per zone), by zone then address."""
    description = eni_description(nlb_arn)
    try:
        interfaces = paginate(
            aws_client("ec2", region),
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "description", "Values": [description]}],
        )
    except ClientError as e:
        raise aws_failure(f"describe the network interfaces of {nlb_arn}", e) from e
    result = [to_nlb_interface(eni) for eni in interfaces]
    return sorted(result, key=lambda i: (i.availability_zone, i.private_ip))
