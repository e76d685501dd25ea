"""EC2: the regions and availability zones an account sees."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.errors import SpecError, aws_error_code

# What a disabled region answers to a signed request.
_REGION_REFUSED_CODES = frozenset({"AuthFailure", "UnrecognizedClientException", "OptInRequired"})


def describe_all_regions(region: str) -> list[dict[str, Any]]:
    """Return DescribeRegions(AllRegions) as seen from `region`; SpecError if it refuses us."""
    try:
        return list(aws_client("ec2", region).describe_regions(AllRegions=True)["Regions"])
    except ClientError as e:
        code = aws_error_code(e)
        if code in _REGION_REFUSED_CODES:
            raise SpecError(
                f"region {region} refused the request ({code}): "
                "is the region enabled for this account?"
            ) from e
        raise aws_failure(f"describe the regions from {region}", e) from e


def describe_zones(region: str) -> list[dict[str, Any]]:
    """Return the availability zones (not local or wavelength zones) of a region."""
    try:
        return list(
            aws_client("ec2", region).describe_availability_zones(
                Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
            )["AvailabilityZones"]
        )
    except ClientError as e:
        raise aws_failure(f"describe the availability zones of {region}", e) from e
