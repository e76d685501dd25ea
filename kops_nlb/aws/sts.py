"""STS: who the credentials are."""

from __future__ import annotations

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client
from kops_nlb.aws.errors import aws_failure


def caller_account_id(region: str) -> str:
    """Return the AWS account id of the credentials in use."""
    try:
        identity = aws_client("sts", region).get_caller_identity()
    except ClientError as e:
        raise aws_failure("get the caller identity (sts:GetCallerIdentity)", e) from e
    return str(identity["Account"])
