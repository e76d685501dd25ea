"""Checks that the account and region can host the environment, before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task

from kops_nlb.aws.client import aws_client
from kops_nlb.core.errors import SpecError, aws_error_code, aws_failure
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS

# Region opt-in states in which the region can be used.
_USABLE_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})


def region_problem(region: str, regions: Iterable[Mapping[str, Any]]) -> str | None:
    """Return why `region` cannot be used, given DescribeRegions(AllRegions) output, else None."""
    by_name = {r.get("RegionName"): r for r in regions}
    found = by_name.get(region)
    if found is None:
        known = ", ".join(sorted(str(name) for name in by_name if name))
        return f"region {region} does not exist (known regions: {known})"
    status = found.get("OptInStatus", "opt-in-not-required")
    if status not in _USABLE_OPT_IN:
        return f"region {region} is not enabled for this account (opt-in status: {status})"
    return None


def zone_problems(
    wanted: Iterable[str], zones: Iterable[Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """Return (wanted zones that are missing or not `available`, the available zones)."""
    state = {z.get("ZoneName"): z.get("State") for z in zones}
    available = sorted(str(name) for name, s in state.items() if name and s == "available")
    bad = [
        f"{zone} ({state[zone]})" if zone in state else f"{zone} (no such zone)"
        for zone in wanted
        if state.get(zone) != "available"
    ]
    return bad, available


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def caller_account(region: str) -> str:
    """Return the AWS account id of the credentials in use."""
    try:
        identity = aws_client("sts", region).get_caller_identity()
    except ClientError as e:
        raise aws_failure("get the caller identity (sts:GetCallerIdentity)", e) from e
    account = str(identity["Account"])
    get_run_logger().info("AWS account %s (region %s)", account, region)
    return account


@task(**RETRY_OPTIONS)
def check_region_and_zones(spec: EnvironmentSpec) -> None:
    """Raise SpecError unless the region is enabled and every zone of the spec is available."""
    ec2 = aws_client("ec2", spec.region)
    try:
        regions = ec2.describe_regions(AllRegions=True)["Regions"]
    except ClientError as e:
        if aws_error_code(e) in {"AuthFailure", "UnrecognizedClientException", "OptInRequired"}:
            raise SpecError(
                f"region {spec.region} refused the request ({aws_error_code(e)}): "
                "is the region enabled for this account?"
            ) from e
        raise aws_failure(f"describe the regions from {spec.region}", e) from e
    problem = region_problem(spec.region, regions)
    if problem:
        raise SpecError(problem)
    try:
        zones = ec2.describe_availability_zones(
            Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
        )["AvailabilityZones"]
    except ClientError as e:
        raise aws_failure(f"describe the availability zones of {spec.region}", e) from e
    bad, available = zone_problems(spec.zones, zones)
    if bad:
        raise SpecError(
            f"zones not available in {spec.region}: {', '.join(bad)}; "
            f"available zones: {', '.join(available) or 'none'}"
        )
    get_run_logger().info("region %s and zones %s are available", spec.region, list(spec.zones))
