"""Checks that the account and region can host the environment, before anything is written."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import ec2_region, sts
from kops_nlb.core.errors import SpecError
from kops_nlb.core.plan import Precondition
from kops_nlb.core.preflight import kops_version_problem, region_problem, zone_problems
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import commands
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


@task(**RETRY_OPTIONS)
def plan_preconditions(spec: EnvironmentSpec) -> list[Precondition]:
    """Return the preflight checks as the plan shows them, failing ones included (reads only)."""
    problem = region_problem(spec.region, ec2_region.describe_all_regions(spec.region))
    checks = [Precondition(name="region", ok=problem is None, detail=problem or spec.region)]
    if problem is None:
        bad, available = zone_problems(spec.zones, ec2_region.describe_zones(spec.region))
        detail = (
            f"not available in {spec.region}: {', '.join(bad)}; "
            f"available zones: {', '.join(available) or 'none'}"
            if bad
            else ", ".join(spec.zones)
        )
        checks.append(Precondition(name="zones", ok=not bad, detail=detail))
    try:
        kops_problem, version = kops_version_problem(commands.version(spec))
    except SpecError as exc:
        kops_problem, version = str(exc), ""
    checks.append(
        Precondition(name="kops", ok=kops_problem is None, detail=kops_problem or version)
    )
    return checks
