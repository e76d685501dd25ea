"""The SSM bastion: its role, security group and instance; online in SSM; found; removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import ec2_bastion, ec2_network, iam, ssm
from kops_nlb.aws.removal import bastion as bastion_removal
from kops_nlb.core.bastion import (
    COMPONENT,
    BastionInfo,
    bastion_observation,
    bastion_subnet,
    run_instances_request,
    ssm_online_problem,
)
from kops_nlb.core.errors import KopsNlbError, TransientError
from kops_nlb.core.naming import bastion_role_name, bastion_security_group_name, project_tags
from kops_nlb.core.network import ClusterNetwork
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def latest_al2023_ami(region: str) -> str:
    """Return the current Amazon Linux 2023 x86_64 AMI id of a region (public SSM parameter)."""
    return ssm.al2023_ami(region)


@task(**RETRY_OPTIONS)
def ensure_bastion_role(spec: EnvironmentSpec) -> StepResult:
    """Ensure the bastion's IAM role (EC2 trust, SSM managed policy) and its instance profile."""
    name = bastion_role_name(spec)
    tags = project_tags(spec, COMPONENT)
    role_arn, role_done, role_created = iam.ensure_role(
        spec.region, name, tags=tags, description=f"SSM bastion of kops cluster {spec.cluster_name}"
    )
    profile_arn, profile_done, profile_created = iam.ensure_instance_profile(
        spec.region, name, tags=tags
    )
    done = role_done + profile_done
    summary = f"bastion role {name}: " + (", ".join(done) if done else "already as wanted")
    get_run_logger().info(summary)
    created = {"role"} if role_created else set()
    created |= {"instance-profile"} if profile_created else set()
    return StepResult(
        step="bastion-role",
        changed=bool(done),
        created=frozenset(created),
        summary=summary,
        ids={"role": name, "role_arn": role_arn, "instance_profile_arn": profile_arn},
    )


@task(**RETRY_OPTIONS)
def ensure_bastion_security_group(spec: EnvironmentSpec, network: ClusterNetwork) -> StepResult:
    """Ensure the bastion's security group in the cluster VPC, with no inbound rule at all."""
    name = bastion_security_group_name(spec)
    group = ec2_bastion.find_security_group(spec.region, network.vpc_id, name)
    done: list[str] = []
    if group is None:
        group_id = ec2_bastion.create_security_group(
            spec.region,
            network.vpc_id,
            name,
            description=f"SSM bastion of kops cluster {spec.cluster_name}; no inbound rules",
            tags=project_tags(spec, COMPONENT),
        )
        done.append("created")
    else:
        group_id = group["GroupId"]
        inbound = group.get("IpPermissions") or []
        if inbound:
            ec2_bastion.revoke_inbound(spec.region, group_id, inbound)
            done.append(f"revoked {len(inbound)} inbound rule(s)")
    summary = f"bastion security group {name} ({group_id}): " + (
        ", ".join(done) if done else "already as wanted"
    )
    get_run_logger().info(summary)
    return StepResult(
        step="bastion-security-group",
        changed=bool(done),
        created=frozenset({"security-group"} if group is None else ()),
        summary=summary,
        ids={"security_group_id": group_id, "vpc_id": network.vpc_id},
    )


def _instance_result(instance: Mapping[str, Any], *, summary: str, action: str) -> StepResult:
    return StepResult(
        step="bastion-instance",
        changed=action != "found",
        created=frozenset({"instance"} if action == "launched" else ()),
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
    logger = get_run_logger()
    existing = ec2_bastion.find_live_bastion(spec, network.vpc_id)
    if existing is not None:
        instance_id, state = existing["InstanceId"], existing["State"]["Name"]
        if state == "stopping":
            raise TransientError(f"bastion {instance_id} is stopping; start it once stopped")
        if state != "stopped":
            return _instance_result(
                existing, summary=f"bastion {instance_id} is {state}", action="found"
            )
        ec2_bastion.start_instance(spec.region, instance_id)
        logger.info("started stopped bastion %s", instance_id)
        return _instance_result(
            existing, summary=f"started bastion {instance_id}", action="started"
        )
    name = bastion_security_group_name(spec)
    group = ec2_bastion.find_security_group(spec.region, network.vpc_id, name)
    if group is None:
        raise KopsNlbError(
            f"security group {name} missing in {network.vpc_id}: "
            "ensure_bastion_security_group must run first"
        )
    subnet = bastion_subnet(network)
    request = run_instances_request(
        spec=spec,
        ami_id=ami_id or ssm.al2023_ami(spec.region),
        subnet_id=subnet.subnet_id,
        security_group_id=group["GroupId"],
        client_token=client_token,
    )
    instance = ec2_bastion.launch_instance(
        spec.region, request, what=f"bastion of {spec.cluster_name}", poll=spec.poll, logger=logger
    )
    summary = f"launched bastion {instance['InstanceId']} in {subnet.subnet_id} ({subnet.zone})"
    logger.info(summary)
    return _instance_result(instance, summary=summary, action="launched")


@task(**RETRY_OPTIONS)
def wait_for_bastion_online(spec: EnvironmentSpec, instance_id: str) -> BastionInfo:
    """Wait until the bastion runs and its SSM agent is Online; return where it is."""
    seen_running: Mapping[str, Any] | None = None  # once running, one SSM call per look suffices

    def look() -> Observation[BastionInfo]:
        nonlocal seen_running
        instance = seen_running
        if instance is None:
            seen = ec2_bastion.describe_instance(spec.region, instance_id)
            if seen.value is None:
                return Observation(ready=False, failing=seen.failing)
            instance = seen.value
        info = None
        if instance.get("State", {}).get("Name") == "running":
            seen_running = instance
            info = ssm.instance_information(spec.region, instance_id)
        return bastion_observation(instance, info)

    return wait_until(
        look,
        what=f"bastion {instance_id} online in SSM",
        timeout=spec.timeouts.bastion_online,
        poll=spec.poll,
        logger=get_run_logger(),
    )


@task(**RETRY_OPTIONS)
def find_bastion(spec: EnvironmentSpec) -> BastionInfo:
    """Return the running, SSM-online bastion of the cluster; never creates one."""
    vpc, _subnets = ec2_network.cluster_vpc_and_subnets(spec.region, spec.cluster_name)
    chosen = ec2_bastion.find_live_bastion(spec, vpc["VpcId"])
    if chosen is None or chosen["State"]["Name"] != "running":
        raise KopsNlbError(f"no running bastion for {spec.cluster_name}: run `provision` first")
    instance_id = chosen["InstanceId"]
    if ssm_online_problem(instance_id, ssm.instance_information(spec.region, instance_id)):
        raise KopsNlbError(f"bastion {instance_id} is not online in SSM (cannot send the probe)")
    return BastionInfo(
        instance_id=instance_id,
        private_ip=chosen["PrivateIpAddress"],
        subnet_id=chosen["SubnetId"],
        availability_zone=chosen["Placement"]["AvailabilityZone"],
    )


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def delete_bastion(spec: EnvironmentSpec) -> list[StepResult]:
    """Delete the SSM bastion: its instances, security group, instance profile and role.

    Only what carries the project's tags is deleted; a same-named role or group that does not is
    reported as left. Every part is tried; then one error lists whatever could not be deleted.
    """
    return bastion_removal.remove_bastion(spec, get_run_logger())
