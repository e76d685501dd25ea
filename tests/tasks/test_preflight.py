"""Preflight: account lookup, region and zone checks, and the AWS error translation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import KopsNlbError, SpecError, TransientError, is_transient
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import latest_al2023_ami
from tasks.preflight import (
    caller_account,
    check_region_and_zones,
    region_problem,
    zone_problems,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")

REGIONS = [
    {"RegionName": "ap-northeast-1", "OptInStatus": "opt-in-not-required"},
    {"RegionName": "ap-east-1", "OptInStatus": "not-opted-in"},
    {"RegionName": "me-central-1", "OptInStatus": "opted-in"},
]


@pytest.mark.parametrize(
    ("region", "problem"),
    [
        ("ap-northeast-1", None),
        ("me-central-1", None),
        (
            "ap-east-1",
            "region ap-east-1 is not enabled for this account (opt-in status: not-opted-in)",
        ),
        (
            "xx-nowhere-1",
            "region xx-nowhere-1 does not exist (known regions: ap-east-1, ap-northeast-1, me-central-1)",
        ),
    ],
    ids=["default", "opted-in", "not-opted-in", "unknown"],
)
def test_region_problem(region: str, problem: str | None) -> None:
    assert region_problem(region, REGIONS) == problem


ZONES = [
    {"ZoneName": "ap-northeast-1a", "State": "available"},
    {"ZoneName": "ap-northeast-1c", "State": "available"},
    {"ZoneName": "ap-northeast-1d", "State": "impaired"},
]


@pytest.mark.parametrize(
    ("wanted", "bad"),
    [
        (["ap-northeast-1a", "ap-northeast-1c"], []),
        (["ap-northeast-1a", "ap-northeast-1d"], ["ap-northeast-1d (impaired)"]),
        (["ap-northeast-1b"], ["ap-northeast-1b (no such zone)"]),
    ],
    ids=["all-available", "impaired", "missing"],
)
def test_zone_problems(wanted: list[str], bad: list[str]) -> None:
    assert zone_problems(wanted, ZONES) == (bad, ["ap-northeast-1a", "ap-northeast-1c"])


def client_error(code: str, message: str = "nope", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AnyOperation")


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            client_error("AccessDenied", "not allowed"),
            KopsNlbError,
            "Failed to create bucket b: AccessDenied: not allowed",
        ),
        (
            client_error("Throttling", "slow down"),
            KopsNlbError,
            "Failed to create bucket b: Throttling: slow down",
        ),
        (
            client_error("InvalidInstanceID.NotFound", "not yet"),
            TransientError,
            "Failed to create bucket b: InvalidInstanceID.NotFound: not yet",
        ),
        (
            EndpointConnectionError(endpoint_url="https://s3"),
            KopsNlbError,
            'Failed to create bucket b: EndpointConnectionError: Could not connect to the endpoint URL: "https://s3"',
        ),
    ],
    ids=[
        "permanent",
        "throttled-after-botocore",
        "eventual-consistency",
        "connection-after-botocore",
    ],
)
def test_aws_failure(exc: Exception, kind: type[Exception], message: str) -> None:
    error = aws_failure("create bucket b", exc)
    assert type(error) is kind
    assert str(error) == message
    assert is_transient(error) is (kind is TransientError)


@pytest.mark.usefixtures("aws")
def test_caller_account_with_moto(region: str) -> None:
    assert caller_account.fn(region) == "123456789012"


@pytest.mark.usefixtures("aws")
def test_region_and_zones_pass_with_moto(spec: EnvironmentSpec) -> None:
    assert check_region_and_zones.fn(spec) is None


@pytest.mark.usefixtures("aws")
def test_unavailable_zone_is_named_with_the_available_ones(spec: EnvironmentSpec) -> None:
    bad = spec.model_copy(update={"zones": ("ap-northeast-1a", "ap-northeast-1b")})
    with pytest.raises(SpecError) as err:
        check_region_and_zones.fn(bad)
    assert str(err.value) == (
        "zones not available in ap-northeast-1: ap-northeast-1b (no such zone); "
        "available zones: ap-northeast-1a, ap-northeast-1c, ap-northeast-1d"
    )


def test_disabled_region_is_a_spec_error(aws_stubs, spec: EnvironmentSpec) -> None:
    aws_stubs["ec2"].add_client_error(
        "describe_regions", "AuthFailure", "AWS was not able to validate"
    )
    with pytest.raises(SpecError, match="is the region enabled"):
        check_region_and_zones.fn(spec)


def test_access_denied_names_the_action(aws_stubs, region: str) -> None:
    aws_stubs["sts"].add_client_error(
        "get_caller_identity", "AccessDenied", "User is not authorized", http_status_code=403
    )
    with pytest.raises(KopsNlbError) as err:
        caller_account.fn(region)
    assert str(err.value) == (
        "Failed to get the caller identity (sts:GetCallerIdentity): "
        "AccessDenied: User is not authorized"
    )
    assert isinstance(err.value.__cause__, ClientError)


def test_lookups_taking_the_same_region_never_share_a_cache_key(region: str) -> None:
    def key(lookup: Any) -> str | None:
        ctx = SimpleNamespace(task=lookup)
        return lookup.cache_policy.compute_key(ctx, {"region": region}, {})

    assert key(caller_account) != key(latest_al2023_ami)
    assert caller_account.cache_expiration == latest_al2023_ami.cache_expiration
