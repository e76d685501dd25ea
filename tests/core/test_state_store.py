"""The state store's rules as tables: create request, versioning, public access, encryption."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.state_store import (
    create_bucket_request,
    has_default_encryption,
    public_access_fully_blocked,
    versioning_enabled,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")

ALL_BLOCKED = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)


@pytest.mark.parametrize(
    ("region", "request_"),
    [
        ("us-east-1", {"Bucket": "b"}),
        (
            "ap-northeast-1",
            {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "ap-northeast-1"}},
        ),
    ],
    ids=["us-east-1", "elsewhere"],
)
def test_create_bucket_request(region: str, request_: dict[str, Any]) -> None:
    assert create_bucket_request("b", region) == request_


@pytest.mark.parametrize(
    ("response", "enabled"),
    [({}, False), ({"Status": "Suspended"}, False), ({"Status": "Enabled"}, True)],
    ids=["never", "suspended", "enabled"],
)
def test_versioning_enabled(response: dict[str, str], enabled: bool) -> None:
    assert versioning_enabled(response) is enabled


@pytest.mark.parametrize(
    ("config", "blocked"),
    [
        (None, False),
        ({**ALL_BLOCKED, "RestrictPublicBuckets": False}, False),
        ({"BlockPublicAcls": True}, False),
        (ALL_BLOCKED, True),
    ],
    ids=["none", "one-false", "partial", "all"],
)
def test_public_access_fully_blocked(config: dict[str, bool] | None, blocked: bool) -> None:
    assert public_access_fully_blocked(config) is blocked


def sse(algorithm: str) -> dict[str, Any]:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]}


@pytest.mark.parametrize(
    ("config", "encrypted"),
    [(None, False), ({"Rules": []}, False), (sse("AES256"), True), (sse("aws:kms"), True)],
    ids=["none", "no-rules", "sse-s3", "kms-kept"],
)
def test_has_default_encryption(config: dict[str, Any] | None, encrypted: bool) -> None:
    assert has_default_encryption(config) is encrypted


# ---- moto -------------------------------------------------------------------------------


@pytest.fixture
def s3(aws: None, boto: Callable[[str], Any]) -> Any:
    """An S3 client on moto."""
    return boto("s3")


# ---- exact requests ---------------------------------------------------------------------
