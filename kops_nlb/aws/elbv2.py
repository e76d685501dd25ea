"""ELBv2: load balancers, their tags, target groups, target health, listeners."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, paginate, tags_to_dict
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import ConflictError, aws_error_code
from kops_nlb.core.naming import nlb_name_for_service_uid
from kops_nlb.core.nlb import (
    NlbInfo,
    TargetGroupSettings,
    TargetHealth,
    is_service_nlb,
    same_hostname,
    to_nlb_info,
    to_target_group_settings,
    to_target_health,
)
from kops_nlb.core.sequences import chunks

DESCRIBE_TAGS_BATCH = 20  # DescribeTags takes at most 20 ARNs


def tags_by_arn(elbv2: Any, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    """Return the tags of each load balancer or target group ARN, 20 ARNs a call."""
    tags: dict[str, dict[str, str]] = {}
    for batch in chunks(arns, DESCRIBE_TAGS_BATCH):
        for entry in elbv2.describe_tags(ResourceArns=list(batch))["TagDescriptions"]:
            tags[entry["ResourceArn"]] = tags_to_dict(entry.get("Tags"))
    return tags


def find_service_nlb(
    region: str, *, service: str, cluster: str, service_uid: str, hostname: str | None
) -> NlbInfo | None:
    """Return the load balancer of Service ``ns/name``: by its expected name, else by a scan."""
    elbv2 = aws_client("elbv2", region)
    name = nlb_name_for_service_uid(service_uid)

    def matches(lbs: Iterable[dict[str, Any]], tags: dict[str, dict[str, str]]) -> list[Any]:
        return [
            lb
            for lb in lbs
            if is_service_nlb(
                lb,
                tags.get(lb["LoadBalancerArn"], {}),
                service=service,
                cluster_name=cluster,
                hostname=hostname,
            )
        ]

    try:
        try:
            by_name = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
        except ClientError as e:
            if aws_error_code(e) != "LoadBalancerNotFound":
                raise
            by_name = []
        found = matches(by_name, tags_by_arn(elbv2, [lb["LoadBalancerArn"] for lb in by_name]))
        if found:
            return to_nlb_info(found[0])
        # Not under the expected name (another controller, or a renamed one): scan.
        everything = paginate(elbv2, "describe_load_balancers", "LoadBalancers")
        candidates = [
            lb
            for lb in everything
            if lb["LoadBalancerName"] != name
            and (not hostname or same_hostname(lb.get("DNSName"), hostname))
        ]
        tags = tags_by_arn(elbv2, [lb["LoadBalancerArn"] for lb in candidates])
    except ClientError as e:
        raise aws_failure(f"look up the load balancer of Service {service}", e) from e
    found = matches(candidates, tags)
    if len(found) > 1:
        names = sorted(lb["LoadBalancerName"] for lb in found)
        raise ConflictError(f"several load balancers are tagged for Service {service}: {names}")
    return to_nlb_info(found[0]) if found else None


def describe_nlb(region: str, arn: str) -> NlbInfo | None:
    """Return the load balancer of an ARN, or None when it is gone."""
    try:
        lbs = aws_client("elbv2", region).describe_load_balancers(LoadBalancerArns=[arn])
    except ClientError as e:
        if aws_error_code(e) == "LoadBalancerNotFound":
            return None
        raise aws_failure(f"describe load balancer {arn}", e) from e
    return to_nlb_info(lbs["LoadBalancers"][0]) if lbs["LoadBalancers"] else None


def target_health(region: str, nlb_arn: str) -> list[TargetHealth]:
    """Return the health of every target of every target group of the load balancer."""
    elbv2 = aws_client("elbv2", region)
    try:
        health: list[TargetHealth] = []
        for group in target_groups_of(elbv2, [nlb_arn]):
            try:
                descriptions = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])[
                    "TargetHealthDescriptions"
                ]
            except ClientError as e:
                if aws_error_code(e) == "TargetGroupNotFound":
                    continue  # deleted since it was listed
                raise
            health.extend(to_target_health(group["TargetGroupName"], d) for d in descriptions)
    except ClientError as e:
        raise aws_failure(f"read the target health of {nlb_arn}", e) from e
    return sorted(health, key=lambda t: (t.target_group, t.instance_id, t.port or 0))


def target_group_settings(region: str, nlb_arn: str) -> list[TargetGroupSettings]:
    """Return the target type and client-address attributes of each target group of the NLB."""
    elbv2 = aws_client("elbv2", region)
    settings: list[TargetGroupSettings] = []
    try:
        for group in target_groups_of(elbv2, [nlb_arn]):
            try:
                attributes = elbv2.describe_target_group_attributes(
                    TargetGroupArn=group["TargetGroupArn"]
                )["Attributes"]
            except ClientError as e:
                if aws_error_code(e) == "TargetGroupNotFound":
                    continue  # deleted since it was listed
                raise
            settings.append(to_target_group_settings(group, attributes))
    except ClientError as e:
        raise aws_failure(f"read the target group attributes of {nlb_arn}", e) from e
    return sorted(settings, key=lambda s: s.name)


def target_groups_of(elbv2: Any, lb_arns: Iterable[str]) -> list[dict[str, Any]]:
    """Return the target groups of the load balancers (none for one that is gone)."""
    groups: list[dict[str, Any]] = []
    for lb_arn in lb_arns:
        try:
            groups += paginate(
                elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=lb_arn
            )
        except ClientError as e:
            if aws_error_code(e) not in {"LoadBalancerNotFound", "TargetGroupNotFound"}:
                raise
    return groups


def delete_load_balancer(elbv2: Any, arn: str) -> None:
    """Delete a load balancer's listeners, then the load balancer."""
    # DeleteLoadBalancer succeeds for a missing ARN; DescribeListeners says whether it is there.
    for listener in paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn):
        try:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        except ClientError as e:
            if aws_error_code(e) != "ListenerNotFound":
                raise
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
