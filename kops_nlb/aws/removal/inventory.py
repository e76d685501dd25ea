"""Inventory: what is still tagged for the cluster (or as the project's), by kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.aws.elbv2 import tags_by_arn
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import aws_error_code
from kops_nlb.core.naming import bastion_role_name, kops_role_prefixes
from kops_nlb.core.ownership import NOT_TERMINATED, Resource, cluster_filter_sets, cluster_tagged
from kops_nlb.core.spec import EnvironmentSpec


def _by_id(resource: Resource) -> str:
    return resource.id


def tagged_instances(ec2: Any, cluster: str) -> list[Resource]:
    states = [{"Name": "instance-state-name", "Values": list(NOT_TERMINATED)}]
    found: dict[str, Resource] = {}
    for filters in cluster_filter_sets(cluster):
        for reservation in paginate(
            ec2, "describe_instances", "Reservations", Filters=[*filters, *states]
        ):
            for i in reservation.get("Instances", []):
                found[i["InstanceId"]] = Resource(
                    "instances", i["InstanceId"], tags_to_dict(i.get("Tags")), i["State"]["Name"]
                )
    return sorted((r for r in found.values() if cluster_tagged(r.tags, cluster)), key=_by_id)


# How each EC2 kind is described: operation, result key, id key, tags key, detail key.
_EC2_KINDS = {
    "vpcs": ("describe_vpcs", "Vpcs", "VpcId", "Tags", "State"),
    "subnets": ("describe_subnets", "Subnets", "SubnetId", "Tags", "State"),
    "security_groups": (
        "describe_security_groups",
        "SecurityGroups",
        "GroupId",
        "Tags",
        "GroupName",
    ),
    "network_interfaces": (
        "describe_network_interfaces",
        "NetworkInterfaces",
        "NetworkInterfaceId",
        "TagSet",
        "Status",
    ),
    "volumes": ("describe_volumes", "Volumes", "VolumeId", "Tags", "State"),
}


def ec2_resources(
    ec2: Any, cluster: str, kind: str, extra: Sequence[dict[str, Any]] = ()
) -> list[Resource]:
    operation, key, id_key, tags_key, detail_key = _EC2_KINDS[kind]
    found: dict[str, Mapping[str, Any]] = {}
    for filters in cluster_filter_sets(cluster):
        for item in paginate(ec2, operation, key, Filters=[*filters, *extra]):
            found.setdefault(item[id_key], item)
    resources = [
        Resource(kind, rid, tags_to_dict(item.get(tags_key)), str(item.get(detail_key, "")))
        for rid, item in sorted(found.items())
    ]
    return [r for r in resources if cluster_tagged(r.tags, cluster)]


def tagged_load_balancers(elbv2: Any, cluster: str) -> list[Resource]:
    """Return the ELBv2 load balancers tagged for the cluster (tags read 20 ARNs at a time)."""
    lbs = paginate(elbv2, "describe_load_balancers", "LoadBalancers")
    tags = tags_by_arn(elbv2, [lb["LoadBalancerArn"] for lb in lbs])
    return [
        Resource("load_balancers", lb["LoadBalancerArn"], tags.get(lb["LoadBalancerArn"], {}))
        for lb in lbs
        if cluster_tagged(tags.get(lb["LoadBalancerArn"], {}), cluster)
    ]


def tagged_target_groups(elbv2: Any, cluster: str) -> list[Resource]:
    """Return the ELBv2 target groups tagged for the cluster."""
    groups = paginate(elbv2, "describe_target_groups", "TargetGroups")
    tags = tags_by_arn(elbv2, [g["TargetGroupArn"] for g in groups])
    return [
        Resource("target_groups", g["TargetGroupArn"], tags.get(g["TargetGroupArn"], {}))
        for g in groups
        if cluster_tagged(tags.get(g["TargetGroupArn"], {}), cluster)
    ]


def _iam_names(spec: EnvironmentSpec) -> list[str]:
    cluster = spec.cluster_name
    return [*(f"{prefix}{cluster}" for prefix in kops_role_prefixes()), bastion_role_name(spec)]


def _iam_resources(iam: Any, spec: EnvironmentSpec) -> dict[str, list[Resource]]:
    found: dict[str, list[Resource]] = {"iam_roles": [], "instance_profiles": []}
    for name in _iam_names(spec):
        for kind, call, key in (
            ("iam_roles", iam.get_role, "Role"),
            ("instance_profiles", iam.get_instance_profile, "InstanceProfile"),
        ):
            arg = {"RoleName": name} if kind == "iam_roles" else {"InstanceProfileName": name}
            try:
                item = call(**arg)[key]
            except ClientError as e:
                if aws_error_code(e) == "NoSuchEntity":
                    continue
                raise
            found[kind].append(Resource(kind, name, tags_to_dict(item.get("Tags"))))
    return found


def survey(spec: EnvironmentSpec) -> dict[str, list[Resource]]:
    """Return everything still tagged for the cluster (or as ours), by kind; kinds may be empty."""
    ec2 = aws_client("ec2", spec.region)
    elbv2 = aws_client("elbv2", spec.region)
    iam = aws_client("iam", spec.region)
    cluster = spec.cluster_name
    try:
        found = {
            "instances": tagged_instances(ec2, cluster),
            "load_balancers": tagged_load_balancers(elbv2, cluster),
            "target_groups": tagged_target_groups(elbv2, cluster),
            **{
                kind: ec2_resources(ec2, cluster, kind)
                for kind in ("security_groups", "network_interfaces", "volumes", "vpcs", "subnets")
            },
            **_iam_resources(iam, spec),
        }
    except ClientError as e:
        raise aws_failure(f"list what is left of cluster {cluster}", e) from e
    return found
