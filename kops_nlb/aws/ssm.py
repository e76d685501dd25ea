"""SSM: the Amazon Linux AMI parameter and an instance's registration with Systems Manager."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.naming import AL2023_AMI_PARAMETER


def al2023_ami(region: str) -> str:
    """Return the current Amazon Linux 2023 x86_64 AMI id of a region (public SSM parameter)."""
    try:
        parameter = aws_client("ssm", region).get_parameter(Name=AL2023_AMI_PARAMETER)
    except ClientError as e:
        raise aws_failure(f"read {AL2023_AMI_PARAMETER} in {region}", e) from e
    return str(parameter["Parameter"]["Value"])


def instance_information(region: str, instance_id: str) -> Mapping[str, Any] | None:
    """Return the instance's SSM registration (PingStatus...), or None when it has none."""
    try:
        found = aws_client("ssm", region).describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
        )["InstanceInformationList"]
    except ClientError as e:
        raise aws_failure(f"read the SSM registration of {instance_id}", e) from e
    return found[0] if found else None
