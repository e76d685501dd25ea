"""Preflight: account lookup, region and zone checks, and the AWS error translation."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import KopsNlbError, SpecError, TransientError, is_transient
from kops_nlb.core.spec import EnvironmentSpec
from tasks.preflight import (
    caller_account,
    check_region_and_zones,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")


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
