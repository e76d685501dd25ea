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
from kops_nlb.core.errors import ConflictError, KopsNlbError, TransientError
from kops_nlb.core.naming import bastion_role_name, bastion_security_group_name, project_tags
from kops_nlb.core.network import ClusterNetwork
from kops_nlb.core.plan import PlanItem, blocked_item
from kops_nlb.core.plan_aws import (
    RoleDecision,
    SecurityGroupDecision,
    decide_bastion_instance,
    decide_bastion_role,
    decide_security_group,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation, wait_until
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def latest_al2023_ami(region: str) -> str:
    """Return the current Amazon Linux 2023 x86_64 AMI id of a region (public SSM parameter)."""
    return ssm.al2023_ami(region)


def _decide_role(spec: EnvironmentSpec) -> RoleDecision:
    name = bastion_role_name(spec)
    return decide_bastion_role(name, iam.bastion_role_facts(spec.region, name))


@task(**RETRY_OPTIONS)
def ensure_bastion_role(spec: EnvironmentSpec) -> StepResult:
    """Ensure the bastion's IAM role (EC2 trust, SSM managed policy) and its instance profile."""
    name, region = bastion_role_name(spec), spec.region
    tags = project_tags(spec, COMPONENT)
    facts = iam.bastion_role_facts(region, name)
    decision = decide_bastion_role(name, facts)
    if decision.conflict:
        raise ConflictError(decision.conflict)
    done: list[str] = []
    role_arn, profile_arn = facts.role_arn or "", facts.profile_arn or ""
    if decision.create_role:
        description = f"SSM bastion of kops cluster {spec.cluster_name}"
        role_arn = iam.create_role(region, name, tags=tags, description=description)
        done.append("role created")
    if decision.set_trust:
        iam.trust_ec2(region, name)
        done.append("trust policy set to EC2")
    if decision.attach_ssm:
        iam.attach_ssm_policy(region, name)
        done.append("AmazonSSMManagedInstanceCore attached")
    if decision.create_profile:
        profile_arn = iam.create_instance_profile(region, name, tags=tags)
        done.append("instance profile created")
    if decision.add_role:
        iam.add_role_to_profile(region, name)
        done.append("role added to instance profile")
    summary = f"bastion role {name}: " + (", ".join(done) if done else "already as wanted")
    get_run_logger().info(summary)
    created = {"role"} if decision.create_role else set()
    created |= {"instance-profile"} if decision.create_profile else set()
    return StepResult(
        step="bastion-role",
        changed=bool(done),
        created=frozenset(created),
        summary=summary,
        ids={"role": name, "role_arn": role_arn, "instance_profile_arn": profile_arn},
    )


@task(**RETRY_OPTIONS)
def plan_bastion_role(spec: EnvironmentSpec) -> PlanItem:
    """Return what `ensure_bastion_role` would do (reads only)."""
    return _decide_role(spec).item


def _decide_security_group(spec: EnvironmentSpec, vpc_id: str) -> SecurityGroupDecision:
    name = bastion_security_group_name(spec)
    return decide_security_group(
        name, vpc_id, ec2_bastion.find_security_group(spec.region, vpc_id, name)
    )


@task(**RETRY_OPTIONS)
def ensure_bastion_security_group(spec: EnvironmentSpec, network: ClusterNetwork) -> StepResult:
    """Ensure the bastion's security group in the cluster VPC, with no inbound rule at all."""
    name = bastion_security_group_name(spec)
    decision = _decide_security_group(spec, network.vpc_id)
    done: list[str] = []
    group_id = decision.group_id
    if decision.create:
        group_id = ec2_bastion.create_security_group(
            spec.region,
            network.vpc_id,
            name,
            description=f"SSM bastion of kops cluster {spec.cluster_name}; no inbound rules",
            tags=project_tags(spec, COMPONENT),
        )
        done.append("created")
    elif decision.revoke:
        ec2_bastion.revoke_inbound(spec.region, group_id, list(decision.revoke))
        done.append(f"revoked {len(decision.revoke)} inbound rule(s)")
    summary = f"bastion security group {name} ({group_id}): " + (
        ", ".join(done) if done else "already as wanted"
    )
    get_run_logger().info(summary)
    return StepResult(
        step="bastion-security-group",
        changed=bool(done),
        created=frozenset({"security-group"} if decision.create else ()),
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


def _placement(network: ClusterNetwork) -> str:
    subnet = bastion_subnet(network)
    return f"{subnet.subnet_id} ({subnet.zone}, {subnet.kind}) of {network.vpc_id}"


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
    decision = decide_bastion_instance(
        existing, instance_type=spec.bastion_instance_type, placement="a utility subnet"
    )
    if existing is not None:
        instance_id, state = decision.instance_id, existing["State"]["Name"]
        if decision.action == "wait":
            raise TransientError(f"bastion {instance_id} is stopping; start it once stopped")
        if decision.action == "found":
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
def plan_bastion(
    spec: EnvironmentSpec, network: ClusterNetwork | None, *, cluster_exists: bool
) -> list[PlanItem]:
    """Return what the security group and instance steps would do (reads only).

    Without the cluster's VPC, a cluster kops is about to create gets both in the VPC it
    creates; a cluster kops knows whose VPC is not there blocks them (apply would stop).
    """
    group, instance = "bastion-security-group", "bastion-instance"
    if network is None:
        if cluster_exists:
            reason = (
                f"kops knows {spec.cluster_name} but its VPC is not there (nothing tagged "
                f"KubernetesCluster={spec.cluster_name}), so the bastion's place is unknown: "
                "run `kops update cluster --yes`"
            )
            return [
                blocked_item(group, f"security group {bastion_security_group_name(spec)}", reason),
                blocked_item(instance, "bastion instance", reason),
            ]
        where = "the VPC kops creates for the cluster"
        sg = decide_security_group(bastion_security_group_name(spec), where, None).item
        placement = f"a utility subnet of {where}"
        launch = decide_bastion_instance(
            None, instance_type=spec.bastion_instance_type, placement=placement
        ).item
        return [sg, launch]
    sg = _decide_security_group(spec, network.vpc_id).item
    existing = ec2_bastion.find_live_bastion(spec, network.vpc_id)
    try:
        placement = _placement(network)
    except KopsNlbError as exc:
        if existing is None:
            return [sg, blocked_item(instance, "bastion instance", str(exc))]
        placement = ""
    decision = decide_bastion_instance(
        existing, instance_type=spec.bastion_instance_type, placement=placement
    )
    return [sg, decision.item]


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
