"""S3: the state-store bucket (look up, create, harden, empty, delete)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, dict_to_tags, tags_to_dict
from kops_nlb.aws.errors import ACCESS_DENIED_CODES, MISSING_BUCKET_CODES, aws_failure, item_or_none
from kops_nlb.core.errors import ConflictError, KopsNlbError, TransientError, aws_error_code
from kops_nlb.core.plan_aws import BucketFacts
from kops_nlb.core.state_store import PUBLIC_ACCESS_FLAGS, create_bucket_request, version_batches


def bucket_exists(region: str, bucket: str) -> bool:
    """Tell whether the bucket exists; ConflictError when it exists but is not ours to read."""
    try:
        aws_client("s3", region).head_bucket(Bucket=bucket)
    except ClientError as e:
        code = aws_error_code(e)
        if code in MISSING_BUCKET_CODES:
            return False
        if code in ACCESS_DENIED_CODES:
            raise ConflictError(
                f"S3 bucket {bucket} exists but is not accessible to these credentials (owned by "
                "another account, or access denied); set state_store_bucket to a bucket you own"
            ) from e
        raise aws_failure(f"look up bucket {bucket}", e) from e
    return True


def create_bucket(region: str, bucket: str, tags: Mapping[str, str]) -> bool:
    """Create the bucket and tag it; False when it turned out to exist already (a race)."""
    s3 = aws_client("s3", region)
    try:
        s3.create_bucket(**create_bucket_request(bucket, region))
    except ClientError as e:
        code = aws_error_code(e)
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise ConflictError(
                f"S3 bucket name {bucket} is taken by another account (bucket names are global); "
                "set state_store_bucket to a name of your own"
            ) from e
        raise aws_failure(f"create bucket {bucket} in {region}", e) from e
    try:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": dict_to_tags(dict(tags))})
    except ClientError as e:
        raise aws_failure(f"tag bucket {bucket}", e) from e
    return True


def bucket_facts(region: str, bucket: str) -> BucketFacts:
    """Return an existing bucket's tags, versioning, public access block and encryption."""
    s3 = aws_client("s3", region)
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        public = item_or_none(
            s3.get_public_access_block,
            "PublicAccessBlockConfiguration",
            missing="NoSuchPublicAccessBlockConfiguration",
            Bucket=bucket,
        )
        encryption = item_or_none(
            s3.get_bucket_encryption,
            "ServerSideEncryptionConfiguration",
            missing="ServerSideEncryptionConfigurationNotFoundError",
            Bucket=bucket,
        )
        tags = item_or_none(s3.get_bucket_tagging, "TagSet", missing="NoSuchTagSet", Bucket=bucket)
    except ClientError as e:
        raise aws_failure(f"read the settings of bucket {bucket}", e) from e
    return BucketFacts(
        exists=True,
        tags=tags_to_dict(tags),
        versioning=versioning,
        public_access=public,
        encryption=encryption,
    )


def enable_versioning(region: str, bucket: str) -> None:
    """Switch versioning on."""
    try:
        aws_client("s3", region).put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    except ClientError as e:
        raise aws_failure(f"enable versioning on bucket {bucket}", e) from e


def block_public_access(region: str, bucket: str) -> None:
    """Set all four public access block flags."""
    try:
        aws_client("s3", region).put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_FLAGS, True),
        )
    except ClientError as e:
        raise aws_failure(f"block public access to bucket {bucket}", e) from e


def set_default_encryption(region: str, bucket: str) -> None:
    """Set default encryption to SSE-S3."""
    try:
        aws_client("s3", region).put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    except ClientError as e:
        raise aws_failure(f"set default encryption on bucket {bucket}", e) from e


def put_bucket_tags(region: str, bucket: str, tags: Mapping[str, str]) -> None:
    """Replace the bucket's tag set with ``tags``."""
    try:
        aws_client("s3", region).put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": dict_to_tags(dict(tags))}
        )
    except ClientError as e:
        raise aws_failure(f"tag bucket {bucket}", e) from e


def bucket_tags_and_versions(
    region: str, bucket: str
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the bucket's tags, its object versions and its delete markers."""
    s3 = aws_client("s3", region)
    try:
        try:
            tags = tags_to_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
        except ClientError as e:
            if aws_error_code(e) != "NoSuchTagSet":
                raise
            tags = {}
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as e:
        raise aws_failure(f"read the tags and versions of bucket {bucket}", e) from e
    versions = [v for page in pages for v in page.get("Versions", [])]
    markers = [m for page in pages for m in page.get("DeleteMarkers", [])]
    return tags, versions, markers


def empty_and_delete_bucket(
    region: str, bucket: str, versions: Sequence[Mapping[str, Any]]
) -> bool:
    """Delete every given version and delete marker, then the bucket; False if already gone."""
    s3 = aws_client("s3", region)
    try:
        errors: list[str] = []
        for batch in version_batches(versions):
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors += [
                f"{e.get('Key')}@{e.get('VersionId')}: {e.get('Code')}"
                for e in response.get("Errors", [])
            ]
        if errors:
            shown = "; ".join(errors[:10]) + (
                f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
            )
            raise KopsNlbError(
                f"Failed to empty bucket {bucket}: {len(errors)} version(s) not deleted: {shown}"
            )
        s3.delete_bucket(Bucket=bucket)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchBucket":
            return False
        if aws_error_code(e) == "BucketNotEmpty":
            raise TransientError(f"bucket {bucket} got new objects while being emptied") from e
        raise aws_failure(f"delete bucket {bucket}", e) from e
    return True
