"""Read-only lookups verification needs: the bastion made by `provision`."""

from __future__ import annotations

from botocore.exceptions import ClientError
from prefect import task

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.core.errors import KopsNlbError, aws_failure
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS
from tasks.bastion import BastionInfo, bastion_filters, pick_bastion
from tasks.network import cluster_network


@task(**RETRY_OPTIONS)
def find_bastion(spec: EnvironmentSpec) -> BastionInfo:
    """Return the running, SSM-online bastion of the cluster; never creates one."""
    network = cluster_network.fn(spec)
    ec2 = aws_client("ec2", spec.region)
    ssm = aws_client("ssm", spec.region)
    try:
        reservations = paginate(
            ec2, "describe_instances", "Reservations", Filters=bastion_filters(spec, network.vpc_id)
        )
        instances = [i for r in reservations for i in r["Instances"]]
        chosen = pick_bastion(instances)
        if chosen is None or chosen["State"]["Name"] != "running":
            raise KopsNlbError(f"no running bastion for {spec.cluster_name}: run `provision` first")
        instance_id = chosen["InstanceId"]
        online = ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
        )["InstanceInformationList"]
    except ClientError as exc:
        raise aws_failure(f"find the bastion of {spec.cluster_name}", exc) from exc
    if not online or online[0].get("PingStatus") != "Online":
        raise KopsNlbError(f"bastion {instance_id} is not online in SSM (cannot send the probe)")
    return BastionInfo(
        instance_id=instance_id,
        private_ip=chosen["PrivateIpAddress"],
        subnet_id=chosen["SubnetId"],
        availability_zone=chosen["Placement"]["AvailabilityZone"],
    )
