"""State store: decisions as tables, idempotency against moto, exact requests with Stubber."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import ANY

from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import TAG_COMPONENT, TAG_MANAGED_BY, project_tags
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.state_store import (
    has_default_encryption,
)
from tasks.state_store import ensure_state_store
from tests.core.test_state_store import ALL_BLOCKED, sse

pytestmark = pytest.mark.usefixtures("no_run_logger")

ACCOUNT = "123456789012"


# ---- moto -------------------------------------------------------------------------------


@pytest.fixture
def s3(aws: None, boto: Callable[[str], Any]) -> Any:
    """An S3 client on moto."""
    return boto("s3")


def test_second_run_changes_nothing(spec: EnvironmentSpec, s3: Any, region: str) -> None:
    first = ensure_state_store.fn(spec, ACCOUNT)
    second = ensure_state_store.fn(spec, ACCOUNT)

    bucket = spec.bucket_for(ACCOUNT)
    assert first.changed and first.summary.startswith(f"bucket {bucket}: created")
    assert (second.changed, second.summary) == (False, f"bucket {bucket}: already as wanted")
    assert second.ids == {"bucket": bucket, "state_store": f"s3://{bucket}"}
    client = s3
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == [bucket]
    assert client.get_bucket_location(Bucket=bucket)["LocationConstraint"] == region
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert (
        client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        == ALL_BLOCKED
    )
    assert has_default_encryption(
        client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    )
    tags = {t["Key"]: t["Value"] for t in client.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags[TAG_MANAGED_BY] == "kops-nlb-flows" and tags[TAG_COMPONENT] == "state-store"


def test_bucket_deleted_out_of_band_is_recreated(spec: EnvironmentSpec, s3: Any) -> None:
    ensure_state_store.fn(spec, ACCOUNT)
    s3.delete_bucket(Bucket=spec.bucket_for(ACCOUNT))

    again = ensure_state_store.fn(spec, ACCOUNT)

    assert again.changed and "created" in again.summary


def test_users_bucket_keeps_its_tags_and_gets_the_settings(
    spec: EnvironmentSpec, s3: Any, region: str
) -> None:
    mine = spec.model_copy(update={"state_store_bucket": "my-own-kops-state"})
    client = s3
    client.create_bucket(
        Bucket="my-own-kops-state", CreateBucketConfiguration={"LocationConstraint": region}
    )
    client.put_bucket_tagging(
        Bucket="my-own-kops-state", Tagging={"TagSet": [{"Key": "team", "Value": "infra"}]}
    )

    result = ensure_state_store.fn(mine, ACCOUNT)

    assert result.changed and "created" not in result.summary
    assert "versioning enabled" in result.summary and "public access blocked" in result.summary
    assert client.get_bucket_tagging(Bucket="my-own-kops-state")["TagSet"] == [
        {"Key": "team", "Value": "infra"}
    ]


# ---- exact requests ---------------------------------------------------------------------


def queue_settings_already_done(stub: Any, bucket: str, tags: dict[str, str] | None = None) -> None:
    """Queue the reads of a bucket that has every setting (and, unless given, no tags)."""
    stub.add_response("get_bucket_versioning", {"Status": "Enabled"}, {"Bucket": bucket})
    stub.add_response(
        "get_public_access_block",
        {"PublicAccessBlockConfiguration": ALL_BLOCKED},
        {"Bucket": bucket},
    )
    stub.add_response(
        "get_bucket_encryption",
        {"ServerSideEncryptionConfiguration": sse("aws:kms")},
        {"Bucket": bucket},
    )
    if tags is None:
        stub.add_client_error("get_bucket_tagging", "NoSuchTagSet", "none", 404)
    else:
        stub.add_response(
            "get_bucket_tagging",
            {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            {"Bucket": bucket},
        )


@pytest.mark.parametrize(
    ("region", "config"),
    [("ap-northeast-1", {"LocationConstraint": "ap-northeast-1"}), ("us-east-1", None)],
    ids=["ap-northeast-1", "us-east-1"],
)
def test_create_bucket_call_shape(
    aws_stubs: Any, region: str, config: dict[str, str] | None
) -> None:
    spec = EnvironmentSpec(region=region, zones=(f"{region}a",), state_store_bucket="state-b")
    stub = aws_stubs["s3"]
    stub.add_client_error(
        "head_bucket", "404", "Not Found", 404, expected_params={"Bucket": "state-b"}
    )
    expected: dict[str, Any] = {"Bucket": "state-b"}
    if config:
        expected["CreateBucketConfiguration"] = config
    stub.add_response("create_bucket", {"Location": "/state-b"}, expected)
    stub.add_response("put_bucket_tagging", {}, {"Bucket": "state-b", "Tagging": {"TagSet": ANY}})
    # The new bucket is described again: it may come with settings of its own (AWS's defaults).
    stub.add_response("head_bucket", {}, {"Bucket": "state-b"})
    queue_settings_already_done(stub, "state-b", tags=project_tags(spec, "state-store"))

    result = ensure_state_store.fn(spec, ACCOUNT)

    assert result.summary == "bucket state-b: created"


def test_existing_kms_encrypted_bucket_is_left_alone(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    bucket = spec.bucket_for(ACCOUNT)
    stub = aws_stubs["s3"]
    stub.add_response("head_bucket", {}, {"Bucket": bucket})
    queue_settings_already_done(stub, bucket)

    result = ensure_state_store.fn(spec, ACCOUNT)

    assert not result.changed


def queue_reads_of_an_unhardened_bucket(stub: Any, bucket: str) -> None:
    """Queue what describing an existing bucket with nothing set reads, in the tasks' order."""
    stub.add_response("head_bucket", {}, {"Bucket": bucket})
    stub.add_response("get_bucket_versioning", {"Status": "Suspended"}, {"Bucket": bucket})
    stub.add_client_error(
        "get_public_access_block", "NoSuchPublicAccessBlockConfiguration", "none", 404
    )
    stub.add_client_error(
        "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", "none", 404
    )
    stub.add_client_error("get_bucket_tagging", "NoSuchTagSet", "none", 404)


def test_missing_settings_are_put(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    bucket = spec.bucket_for(ACCOUNT)
    stub = aws_stubs["s3"]
    # Described first, then decided, then only what is missing is put.
    queue_reads_of_an_unhardened_bucket(stub, bucket)
    stub.add_response(
        "put_bucket_versioning",
        {},
        {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}},
    )
    stub.add_response(
        "put_public_access_block",
        {},
        {"Bucket": bucket, "PublicAccessBlockConfiguration": ALL_BLOCKED},
    )
    stub.add_response(
        "put_bucket_encryption",
        {},
        {"Bucket": bucket, "ServerSideEncryptionConfiguration": sse("AES256")},
    )

    result = ensure_state_store.fn(spec, ACCOUNT)

    assert result.summary == (
        f"bucket {bucket}: versioning enabled, public access blocked, default encryption SSE-S3"
    )


def test_bucket_owned_by_you_already_counts_as_existing(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    bucket = spec.bucket_for(ACCOUNT)
    stub = aws_stubs["s3"]
    stub.add_client_error("head_bucket", "404", "Not Found", 404)
    stub.add_client_error("create_bucket", "BucketAlreadyOwnedByYou", "yours", 409)
    stub.add_response("head_bucket", {}, {"Bucket": bucket})
    queue_settings_already_done(stub, bucket)

    assert not ensure_state_store.fn(spec, ACCOUNT).changed


def test_someone_elses_bucket_is_a_conflict(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["s3"]
    stub.add_client_error("head_bucket", "404", "Not Found", 404)
    stub.add_client_error("create_bucket", "BucketAlreadyExists", "taken", 409)

    with pytest.raises(ConflictError, match=r"taken by another account.*set state_store_bucket"):
        ensure_state_store.fn(spec, ACCOUNT)


def test_forbidden_bucket_is_a_conflict(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    aws_stubs["s3"].add_client_error("head_bucket", "403", "Forbidden", 403)

    with pytest.raises(ConflictError, match=r"not accessible.*set state_store_bucket"):
        ensure_state_store.fn(spec, ACCOUNT)
