"""The kops state bucket through boto3 over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

ClientFactory = Callable[..., Any]


@pytest.fixture
def s3(client: ClientFactory) -> Any:
    s3 = client("s3")
    s3.create_bucket(
        Bucket="kops-state-demo", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    return s3


def test_bucket_lives_in_the_region(s3: Any) -> None:
    location = s3.get_bucket_location(Bucket="kops-state-demo")["LocationConstraint"]

    assert location == "ap-northeast-1"


def test_new_bucket_has_default_sse_s3_encryption(s3: Any) -> None:
    rules = s3.get_bucket_encryption(Bucket="kops-state-demo")["ServerSideEncryptionConfiguration"]

    assert rules["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]


def test_explicit_encryption_replaces_the_default(s3: Any) -> None:
    s3.put_bucket_encryption(
        Bucket="kops-state-demo",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )

    rules = s3.get_bucket_encryption(Bucket="kops-state-demo")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


def test_versioning_and_public_access_block(s3: Any) -> None:
    s3.put_bucket_versioning(
        Bucket="kops-state-demo", VersioningConfiguration={"Status": "Enabled"}
    )
    block = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    s3.put_public_access_block(Bucket="kops-state-demo", PublicAccessBlockConfiguration=block)

    assert s3.get_bucket_versioning(Bucket="kops-state-demo")["Status"] == "Enabled"
    stored = s3.get_public_access_block(Bucket="kops-state-demo")
    assert stored["PublicAccessBlockConfiguration"] == block
