"""EC2: stop a cluster node's instance and bring it back (the resilience flow's node loss)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.bastion import all_instances
from kops_nlb.core.errors import aws_error_code


def stop_instance(region: str, instance_id: str) -> None:
    """Stop the instance (not terminate: its group may replace it, or it is started again)."""
    try:
        aws_client("ec2", region).stop_instances(InstanceIds=[instance_id])
    except ClientError as e:
        raise aws_failure(f"stop node instance {instance_id}", e) from e


def start_instance(region: str, instance_id: str) -> None:
    """Start a stopped instance."""
    try:
        aws_client("ec2", region).start_instances(InstanceIds=[instance_id])
    except ClientError as e:
        raise aws_failure(f"start node instance {instance_id}", e) from e


def instance_state(region: str, instance_id: str) -> str | None:
    """Return the instance's state name (running, stopping, stopped, terminated...), or None."""
    try:
        reservations = aws_client("ec2", region).describe_instances(InstanceIds=[instance_id])[
            "Reservations"
        ]
    except ClientError as e:
        if aws_error_code(e) == "InvalidInstanceID.NotFound":
            return None
        raise aws_failure(f"describe node instance {instance_id}", e) from e
    instances = all_instances(reservations)
    return str(instances[0]["State"]["Name"]) if instances else None
