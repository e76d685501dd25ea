"""The SSM bastion: one Amazon Linux 2023 instance in a utility subnet, reached only through SSM.

It is the "client" whose address nginx must log: it sits in the cluster VPC but is not a node
(an internal NLB cannot be reached from one of its own targets). It has no key pair and no
inbound rule; the SSM agent dials out over 443, which a utility subnet with a public address
allows. kops does not know about it, so teardown must remove it before ``kops delete cluster``
(its security group in the cluster VPC would otherwise block the VPC's deletion).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from kops_nlb.aws.client import aws_client, dict_to_tags, paginate
from kops_nlb.core.errors import (
    ConflictError,
    KopsNlbError,
    TransientError,
    aws_error_code,
    aws_failure,
)
from kops_nlb.core.naming import (
    AL2023_AMI_PARAMETER,
    PROJECT,
    SSM_MANAGED_POLICY_ARN,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
    bastion_role_name,
    bastion_security_group_name,
    project_tags,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS
from tasks.network import ClusterNetwork, Subnet

COMPONENT = "bastion"
EC2_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# A new instance profile is not usable by RunInstances at once (IAM is eventually consistent).
INSTANCE_PROFILE_PROPAGATION = 120.0
# DescribeInstances may not know an instance for a few seconds after RunInstances.
INSTANCE_VISIBLE = 60.0
LIVE_STATES = ("pending", "running", "stopping", "stopped")
_STATE_PREFERENCE = {"running": 0, "pending": 1, "stopped": 2, "stopping": 3}


class BastionInfo(BaseModel):
    """The bastion once SSM reports it online."""

    model_config = ConfigDict(frozen=True)

    instance_id: str
    private_ip: str
    subnet_id: str
    availability_zone: str


# ---- pure decisions -------------------------------------------------------------------------


def trusts_ec2(document: Mapping[str, Any] | str | None) -> bool:
    """Tell whether a trust policy lets EC2 assume the role."""
    if not document:
        return False
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        services = statement.get("Principal", {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and "ec2.amazonaws.com" in services:
            return True
    return False


def bastion_filters(spec: EnvironmentSpec, vpc_id: str) -> list[dict[str, Any]]:
    """Return DescribeInstances filters for this cluster's live bastion."""
    return [
        {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [PROJECT]},
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [spec.cluster_name]},
        {"Name": f"tag:{TAG_COMPONENT}", "Values": [COMPONENT]},
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]


def pick_bastion(instances: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Return the instance to use: running before pending before stopped, then oldest first."""
    live = [i for i in instances if i.get("State", {}).get("Name") in _STATE_PREFERENCE]
    if not live:
        return None
    return min(
        live,
        key=lambda i: (
            _STATE_PREFERENCE[i["State"]["Name"]],
            str(i.get("LaunchTime", "")),
            i["InstanceId"],
        ),
    )


def bastion_subnet(network: ClusterNetwork) -> Subnet:
    """Return the subnet for the bastion: the first utility subnet, else the first public one."""
    for subnet in (*network.utility, *network.public):
        return subnet
    raise KopsNlbError(
        f"VPC {network.vpc_id} has no utility or public subnet for the bastion "
        "(it needs a route to the SSM endpoints)"
    )


def run_instances_request(
    *,
    spec: EnvironmentSpec,
    ami_id: str,
    subnet_id: str,
    security_group_id: str,
    client_token: str,
) -> dict[str, Any]:
    """Return RunInstances parameters for the bastion: no key pair, IMDSv2 only, public IP."""
    tags = dict_to_tags(project_tags(spec, COMPONENT))
    return {
        "ImageId": ami_id,
        "InstanceType": spec.bastion_instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": client_token,
        "IamInstanceProfile": {"Name": bastion_role_name(spec)},
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": subnet_id,
                "Groups": [security_group_id],
                "AssociatePublicIpAddress": True,
                "DeleteOnTermination": True,
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }


def instance_profile_not_ready(exc: BaseException) -> bool:
    """Tell whether RunInstances failed only because a new instance profile is not visible yet."""
    if aws_error_code(exc) != "InvalidParameterValue" or not isinstance(exc, ClientError):
        return False
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return "iam instance profile" in message.lower()


def bastion_observation(
    instance: Mapping[str, Any], ssm_info: Mapping[str, Any] | None
) -> Observation[BastionInfo]:
    """Judge one look at the bastion: running and SSM Online is ready.

    Raises KopsNlbError when the instance is stopped or going away (waiting cannot help).
    """
    instance_id = instance["InstanceId"]
    state = instance.get("State", {}).get("Name", "unknown")
    if state in {"shutting-down", "terminated", "stopping", "stopped"}:
        raise KopsNlbError(f"bastion {instance_id} is {state}; it will not come online")
    if state != "running":
        return Observation(ready=False, failing=(f"instance {instance_id} is {state}",))
    if ssm_info is None:
        reason = "agent starting or instance profile not picked up yet"
        return Observation(
            ready=False, failing=(f"{instance_id} not registered with SSM ({reason})",)
        )
    ping = ssm_info.get("PingStatus", "unknown")
    if ping != "Online":
        return Observation(ready=False, failing=(f"{instance_id} SSM PingStatus {ping}",))
    info = BastionInfo(
        instance_id=instance_id,
        private_ip=instance.get("PrivateIpAddress", ""),
        subnet_id=instance.get("SubnetId", ""),
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone", ""),
    )
    return Observation(ready=True, value=info)


# ---- AWS helpers ----------------------------------------------------------------------------


def _al2023_ami(ssm: Any, region: str) -> str:
    try:
        return str(ssm.get_parameter(Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"])
    except ClientError as e:
        raise aws_failure(f"read {AL2023_AMI_PARAMETER} in {region}", e) from e


def _find_security_group(ec2: Any, spec: EnvironmentSpec, vpc_id: str) -> Mapping[str, Any] | None:
    name = bastion_security_group_name(spec)
    try:
        groups = paginate(
            ec2,
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


def _all_instances(reservations: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i for r in reservations for i in r.get("Instances", [])]


# ---- tasks ----------------------------------------------------------------------------------


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def latest_al2023_ami(region: str) -> str:
    """Return the current Amazon Linux 2023 x86_64 AMI id of a region (public SSM parameter)."""
    return _al2023_ami(aws_client("ssm", region), region)


def _ensure_role(iam: Any, spec: EnvironmentSpec, name: str) -> tuple[str, list[str]]:
    done: list[str] = []
    tags = dict_to_tags(project_tags(spec, COMPONENT))
    try:
        try:
            role = iam.get_role(RoleName=name)["Role"]
            if not trusts_ec2(role.get("AssumeRolePolicyDocument")):
                iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(EC2_TRUST_POLICY)
                )
                done.append("trust policy set to EC2")
        except ClientError as e:
            if aws_error_code(e) != "NoSuchEntity":
                raise
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY),
                Description=f"SSM bastion of kops cluster {spec.cluster_name}",
                Tags=tags,
            )["Role"]
            done.append("role created")
        attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        if SSM_MANAGED_POLICY_ARN not in {p["PolicyArn"] for p in attached}:
            iam.attach_role_policy(RoleName=name, PolicyArn=SSM_MANAGED_POLICY_ARN)
            done.append("AmazonSSMManagedInstanceCore attached")
    except ClientError as e:
        raise aws_failure(f"create or update IAM role {name}", e) from e
    return str(role["Arn"]), done


def _ensure_instance_profile(iam: Any, spec: EnvironmentSpec, name: str) -> tuple[str, list[str]]:
    done: list[str] = []
    try:
        try:
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ClientError as e:
            if aws_error_code(e) != "NoSuchEntity":
                raise
            profile = iam.create_instance_profile(
                InstanceProfileName=name, Tags=dict_to_tags(project_tags(spec, COMPONENT))
            )["InstanceProfile"]
            done.append("instance profile created")
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        if roles and name not in roles:
            raise ConflictError(
                f"instance profile {name} holds role {roles[0]}, not {name}; remove it by hand"
            )
        if not roles:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
            done.append("role added to instance profile")
    except ClientError as e:
        raise aws_failure(f"create or update instance profile {name}", e) from e
    return str(profile["Arn"]), done


@task(**RETRY_OPTIONS)
def ensure_bastion_role(spec: EnvironmentSpec) -> StepResult:
    """Ensure the bastion's IAM role (EC2 trust, SSM managed policy) and its instance profile."""
    name = bastion_role_name(spec)
    iam = aws_client("iam", spec.region)
    role_arn, role_done = _ensure_role(iam, spec, name)
    profile_arn, profile_done = _ensure_instance_profile(iam, spec, name)
    done = role_done + profile_done
    summary = f"bastion role {name}: " + (", ".join(done) if done else "already as wanted")
    get_run_logger().info(summary)
    return StepResult(
        step="bastion-role",
        changed=bool(done),
        summary=summary,
        ids={"role": name, "role_arn": role_arn, "instance_profile_arn": profile_arn},
    )


@task(**RETRY_OPTIONS)
def ensure_bastion_security_group(spec: EnvironmentSpec, network: ClusterNetwork) -> StepResult:
    """Ensure the bastion's security group in the cluster VPC, with no inbound rule at all."""
    name = bastion_security_group_name(spec)
    ec2 = aws_client("ec2", spec.region)
    done: list[str] = []
    group = _find_security_group(ec2, spec, network.vpc_id)
    try:
        if group is None:
            group_id = ec2.create_security_group(
                GroupName=name,
                Description=f"SSM bastion of kops cluster {spec.cluster_name}; no inbound rules",
                VpcId=network.vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": dict_to_tags(project_tags(spec, COMPONENT)),
                    }
                ],
            )["GroupId"]
            done.append("created")
        else:
            group_id = group["GroupId"]
            inbound = group.get("IpPermissions") or []
            if inbound:
                ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=inbound)
                done.append(f"revoked {len(inbound)} inbound rule(s)")
    except ClientError as e:
        raise aws_failure(f"create or update security group {name} in {network.vpc_id}", e) from e
    summary = f"bastion security group {name} ({group_id}): " + (
        ", ".join(done) if done else "already as wanted"
    )
    get_run_logger().info(summary)
    return StepResult(
        step="bastion-security-group",
        changed=bool(done),
        summary=summary,
        ids={"security_group_id": group_id, "vpc_id": network.vpc_id},
    )


def _instance_result(instance: Mapping[str, Any], *, changed: bool, summary: str) -> StepResult:
    return StepResult(
        step="bastion-instance",
        changed=changed,
        summary=summary,
        ids={
            "instance_id": instance["InstanceId"],
            "private_ip": instance.get("PrivateIpAddress", ""),
            "subnet_id": instance.get("SubnetId", ""),
        },
    )


@task(**RETRY_OPTIONS)
def ensure_bastion_instance(
    spec: EnvironmentSpec,
    network: ClusterNetwork,
    client_token: str,
    *,
    ami_id: str | None = None,
) -> StepResult:
    """Find this cluster's bastion (starting it if stopped) or launch it with `client_token`.

    `ami_id` defaults to the current Amazon Linux 2023 AMI of the region, read only when an
    instance is launched.
    """
    ec2 = aws_client("ec2", spec.region)
    found = _use_existing_bastion(ec2, spec, network)
    if found is not None:
        return found
    group = _find_security_group(ec2, spec, network.vpc_id)
    if group is None:
        raise KopsNlbError(
            f"security group {bastion_security_group_name(spec)} missing in {network.vpc_id}: "
            "ensure_bastion_security_group must run first"
        )
    subnet = bastion_subnet(network)
    request = run_instances_request(
        spec=spec,
        ami_id=ami_id or _al2023_ami(aws_client("ssm", spec.region), spec.region),
        subnet_id=subnet.subnet_id,
        security_group_id=group["GroupId"],
        client_token=client_token,
    )
    instance = _launch(ec2, spec, request)
    summary = f"launched bastion {instance['InstanceId']} in {subnet.subnet_id} ({subnet.zone})"
    get_run_logger().info(summary)
    return _instance_result(instance, changed=True, summary=summary)


def _use_existing_bastion(
    ec2: Any, spec: EnvironmentSpec, network: ClusterNetwork
) -> StepResult | None:
    """Return the result for a live bastion of ours (started if it was stopped), else None."""
    try:
        reservations = paginate(
            ec2, "describe_instances", "Reservations", Filters=bastion_filters(spec, network.vpc_id)
        )
    except ClientError as e:
        raise aws_failure(f"look up the bastion of {spec.cluster_name}", e) from e
    existing = pick_bastion(_all_instances(reservations))
    if existing is None:
        return None
    instance_id, state = existing["InstanceId"], existing["State"]["Name"]
    if state == "stopping":
        raise TransientError(f"bastion {instance_id} is stopping; start it once stopped")
    if state != "stopped":
        return _instance_result(
            existing, changed=False, summary=f"bastion {instance_id} is {state}"
        )
    try:
        ec2.start_instances(InstanceIds=[instance_id])
    except ClientError as e:
        raise aws_failure(f"start bastion {instance_id}", e) from e
    get_run_logger().info("started stopped bastion %s", instance_id)
    return _instance_result(existing, changed=True, summary=f"started bastion {instance_id}")


def _launch(ec2: Any, spec: EnvironmentSpec, request: Mapping[str, Any]) -> Mapping[str, Any]:
    """Run the instance, waiting out a new instance profile; return it as described now."""
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

    logger = get_run_logger()
    launched = wait_until(
        launch,
        what=f"launch bastion of {spec.cluster_name}",
        timeout=INSTANCE_PROFILE_PROPAGATION,
        poll=spec.poll,
        logger=logger,
    )
    # A reused token answers with the original launch, whatever became of that instance since.
    instance_id = launched["InstanceId"]
    current = wait_until(
        lambda: _described(ec2, instance_id),
        what=f"bastion {instance_id} visible",
        timeout=INSTANCE_VISIBLE,
        poll=spec.poll,
        logger=logger,
    )
    state = current.get("State", {}).get("Name")
    if state in {"shutting-down", "terminated"}:
        raise ConflictError(
            f"client token {request['ClientToken']} already launched {instance_id}, which is "
            f"{state}; a new run key gives a new token"
        )
    return {**launched, **current}


def _described(ec2: Any, instance_id: str) -> Observation[Mapping[str, Any]]:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as e:
        raise aws_failure(f"describe instance {instance_id}", e) from e
    instances = _all_instances(reservations)
    if not instances:
        return Observation(ready=False, failing=(f"instance {instance_id} not visible yet",))
    return Observation(ready=True, value=instances[0])


@task(**RETRY_OPTIONS)
def wait_for_bastion_online(spec: EnvironmentSpec, instance_id: str) -> BastionInfo:
    """Wait until the bastion runs and its SSM agent is Online; return where it is."""
    ec2 = aws_client("ec2", spec.region)
    ssm = aws_client("ssm", spec.region)

    running: list[Mapping[str, Any]] = []  # once seen running, one call per look suffices

    def look() -> Observation[BastionInfo]:
        if running:
            instance = running[0]
        else:
            seen = _described(ec2, instance_id)
            if seen.value is None:
                return Observation(ready=False, failing=seen.failing)
            instance = seen.value
        info = None
        if instance.get("State", {}).get("Name") == "running":
            running[:1] = [instance]
            try:
                found = ssm.describe_instance_information(
                    Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
                )["InstanceInformationList"]
            except ClientError as e:
                raise aws_failure(f"read the SSM registration of {instance_id}", e) from e
            info = found[0] if found else None
        return bastion_observation(instance, info)

    return wait_until(
        look,
        what=f"bastion {instance_id} online in SSM",
        timeout=spec.timeouts.bastion_online,
        poll=spec.poll,
        logger=get_run_logger(),
    )
