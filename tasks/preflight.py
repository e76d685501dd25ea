"""Checks that the account and region can host the environment, before anything is written."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import ec2_region, sts
from kops_nlb.core.errors import SpecError
from kops_nlb.core.preflight import region_problem, zone_problems
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import LOOKUP_CACHE, RETRY_OPTIONS


@task(**RETRY_OPTIONS, **LOOKUP_CACHE)
def caller_account(region: str) -> str:
    """Return the AWS account id of the credentials in use."""
    account = sts.caller_account_id(region)
    get_run_logger().info("AWS account %s (region %s)", account, region)
    return account


@task(**RETRY_OPTIONS)
def check_region_and_zones(spec: EnvironmentSpec) -> None:
    """Raise SpecError unless the region is enabled and every zone of the spec is available."""
    problem = region_problem(spec.region, ec2_region.describe_all_regions(spec.region))
    if problem:
        raise SpecError(problem)
    bad, available = zone_problems(spec.zones, ec2_region.describe_zones(spec.region))
    if bad:
        raise SpecError(
            f"zones not available in {spec.region}: {', '.join(bad)}; "
            f"available zones: {', '.join(available) or 'none'}"
        )
    get_run_logger().info("region %s and zones %s are available", spec.region, list(spec.zones))
