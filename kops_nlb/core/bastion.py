"""The SSM bastion's rules: how it is launched, which instance is it, when it is online (pure).

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

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.naming import (
    BASTION_COMPONENT,
    PROJECT,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
    bastion_role_name,
    dict_to_tags,
    project_tags,
)
from kops_nlb.core.network import ClusterNetwork, Subnet
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import Observation

COMPONENT = BASTION_COMPONENT


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


def all_instances(reservations: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i for r in reservations for i in r.get("Instances", [])]


def ssm_online_problem(instance_id: str, ssm_info: Mapping[str, Any] | None) -> str | None:
    """Return why an instance cannot take Run Commands, given its SSM registration, else None."""
    if ssm_info is None:
        return f"{instance_id} not registered with SSM"
    ping = ssm_info.get("PingStatus", "unknown")
    return None if ping == "Online" else f"{instance_id} SSM PingStatus {ping}"
