"""EC2: the bastion's security group and instance (find, create, start, launch, describe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, dict_to_tags, paginate
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.bastion import (
    INSTANCE_PROFILE_PROPAGATION,
    INSTANCE_VISIBLE,
    all_instances,
    bastion_filters,
    pick_bastion,
)
from kops_nlb.core.errors import ConflictError, aws_error_code
from kops_nlb.core.logs import Logger
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.waiting import Observation, wait_until


def find_security_group(region: str, vpc_id: str, name: str) -> Mapping[str, Any] | None:
    """Return the security group of that name in the VPC, or None."""
    try:
        groups = paginate(
            aws_client("ec2", region),
            "describe_security_groups",
            "SecurityGroups",
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": [name]},
            ],
        )
    except ClientError as e:
        raise aws_failure(f"look up security group {name} in {vpc_id}", e) from e
    return groups[0] if groups else None


def create_security_group(
    region: str, vpc_id: str, name: str, *, description: str, tags: Mapping[str, str]
) -> str:
    """Create a security group (no inbound rule) in the VPC; return its id."""
    try:
        return str(
            aws_client("ec2", region).create_security_group(
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": dict_to_tags(dict(tags))}
                ],
            )["GroupId"]
        )
    except ClientError as e:
        raise aws_failure(f"create security group {name} in {vpc_id}", e) from e


def revoke_inbound(region: str, group_id: str, rules: list[dict[str, Any]]) -> None:
    """Revoke the given inbound rules of a group."""
    try:
        aws_client("ec2", region).revoke_security_group_ingress(
            GroupId=group_id, IpPermissions=rules
        )
    except ClientError as e:
        raise aws_failure(f"revoke the inbound rules of security group {group_id}", e) from e


def find_live_bastion(spec: EnvironmentSpec, vpc_id: str) -> Mapping[str, Any] | None:
    """Return the cluster's bastion to use in the VPC (running first), or None."""
    try:
        reservations = paginate(
            aws_client("ec2", spec.region),
            "describe_instances",
            "Reservations",
            Filters=bastion_filters(spec, vpc_id),
        )
    except ClientError as e:
        raise aws_failure(f"look up the bastion of {spec.cluster_name}", e) from e
    return pick_bastion(all_instances(reservations))


def start_instance(region: str, instance_id: str) -> None:
    """Start a stopped instance."""
    try:
        aws_client("ec2", region).start_instances(InstanceIds=[instance_id])
    except ClientError as e:
        raise aws_failure(f"start bastion {instance_id}", e) from e


def instance_profile_not_ready(exc: BaseException) -> bool:
    """Tell whether RunInstances failed only because a new instance profile is not visible yet."""
    if aws_error_code(exc) != "InvalidParameterValue" or not isinstance(exc, ClientError):
        return False
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return "iam instance profile" in message.lower()


def describe_instance(region: str, instance_id: str) -> Observation[Mapping[str, Any]]:
    """Look at one instance: ready with its description, or not visible yet."""
    try:
        reservations = aws_client("ec2", region).describe_instances(InstanceIds=[instance_id])[
            "Reservations"
        ]
    except ClientError as e:
        raise aws_failure(f"describe instance {instance_id}", e) from e
    instances = all_instances(reservations)
    if not instances:
        return Observation(ready=False, failing=(f"instance {instance_id} not visible yet",))
    return Observation(ready=True, value=instances[0])


def launch_instance(
    region: str, request: Mapping[str, Any], *, what: str, poll: PollPolicy, logger: Logger
) -> Mapping[str, Any]:
    """Run the instance, waiting out a new instance profile; return it as described now."""
    ec2 = aws_client("ec2", region)
    subnet_id = request["NetworkInterfaces"][0]["SubnetId"]

    def launch() -> Observation[Mapping[str, Any]]:
        try:
            instances = ec2.run_instances(**request)["Instances"]
        except ClientError as e:
            if instance_profile_not_ready(e):
                profile = request["IamInstanceProfile"]["Name"]
                return Observation(
                    ready=False, failing=(f"instance profile {profile} not visible yet",)
                )
            raise aws_failure(f"launch the bastion in {subnet_id}", e) from e
        return Observation(ready=True, value=instances[0])

    launched = wait_until(
        launch,
        what=f"launch {what}",
        timeout=INSTANCE_PROFILE_PROPAGATION,
        poll=poll,
        logger=logger,
    )
    # A reused token answers with the original launch, whatever became of that instance since.
    instance_id = launched["InstanceId"]
    current = wait_until(
        lambda: describe_instance(region, instance_id),
        what=f"bastion {instance_id} visible",
        timeout=INSTANCE_VISIBLE,
        poll=poll,
        logger=logger,
    )
    state = current.get("State", {}).get("Name")
    if state in {"shutting-down", "terminated"}:
        raise ConflictError(
            f"client token {request['ClientToken']} already launched {instance_id}, which is "
            f"{state}; a new run key gives a new token"
        )
    return {**launched, **current}
