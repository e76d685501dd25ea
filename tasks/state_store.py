"""The kops state store: one S3 bucket, versioned, private and encrypted.

kops keeps the cluster spec and its PKI in this bucket, so versioning (to recover an overwritten
spec), a full public access block and default encryption are set whenever they are missing.
Tags are set only on a bucket this task creates: a user's existing bucket keeps its tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task

from kops_nlb.aws.client import aws_client, dict_to_tags
from kops_nlb.core.errors import ConflictError, aws_error_code, aws_failure
from kops_nlb.core.naming import project_tags
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS

COMPONENT = "state-store"
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})


def create_bucket_request(bucket: str, region: str) -> dict[str, Any]:
    """Return CreateBucket's parameters: us-east-1 takes no LocationConstraint, others need it."""
    if region == "us-east-1":
        return {"Bucket": bucket}
    return {"Bucket": bucket, "CreateBucketConfiguration": {"LocationConstraint": region}}


def versioning_enabled(response: Mapping[str, Any]) -> bool:
    """Tell whether a GetBucketVersioning response says Enabled (a new bucket has no Status)."""
    return response.get("Status") == "Enabled"


def public_access_fully_blocked(config: Mapping[str, Any] | None) -> bool:
    """Tell whether a PublicAccessBlockConfiguration has all four flags true."""
    return config is not None and all(config.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS)


def has_default_encryption(config: Mapping[str, Any] | None) -> bool:
    """Tell whether a ServerSideEncryptionConfiguration has a default-encryption rule."""
    rules = (config or {}).get("Rules") or []
    return any(
        rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules
    )


def _bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        code = aws_error_code(e)
        if code in _MISSING_BUCKET_CODES:
            return False
        if code in {"403", "Forbidden", "AccessDenied"}:
            raise ConflictError(
                f"S3 bucket {bucket} exists but is not accessible to these credentials (owned by "
                "another account, or access denied); set state_store_bucket to a bucket you own"
            ) from e
        raise aws_failure(f"look up bucket {bucket}", e) from e
    return True


def _create_bucket(s3: Any, spec: EnvironmentSpec, bucket: str) -> bool:
    """Create the bucket and tag it; False when it turned out to exist already (a race)."""
    try:
        s3.create_bucket(**create_bucket_request(bucket, spec.region))
    except ClientError as e:
        code = aws_error_code(e)
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise ConflictError(
                f"S3 bucket name {bucket} is taken by another account (bucket names are global); "
                "set state_store_bucket to a name of your own"
            ) from e
        raise aws_failure(f"create bucket {bucket} in {spec.region}", e) from e
    try:
        s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": dict_to_tags(project_tags(spec, COMPONENT))}
        )
    except ClientError as e:
        raise aws_failure(f"tag bucket {bucket}", e) from e
    return True


def _ensure_versioning(s3: Any, bucket: str) -> bool:
    try:
        if versioning_enabled(s3.get_bucket_versioning(Bucket=bucket)):
            return False
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    except ClientError as e:
        raise aws_failure(f"enable versioning on bucket {bucket}", e) from e
    return True


def _ensure_public_access_block(s3: Any, bucket: str) -> bool:
    try:
        try:
            config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as e:
            if aws_error_code(e) != "NoSuchPublicAccessBlockConfiguration":
                raise
            config = None
        if public_access_fully_blocked(config):
            return False
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_FLAGS, True),
        )
    except ClientError as e:
        raise aws_failure(f"block public access to bucket {bucket}", e) from e
    return True


def _ensure_encryption(s3: Any, bucket: str) -> bool:
    try:
        try:
            config = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        except ClientError as e:
            if aws_error_code(e) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            config = None
        if has_default_encryption(config):
            return False
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    except ClientError as e:
        raise aws_failure(f"set default encryption on bucket {bucket}", e) from e
    return True


@task(**RETRY_OPTIONS)
def ensure_state_store(spec: EnvironmentSpec, account_id: str) -> StepResult:
    """Create the kops state-store bucket if missing and make it versioned, private, encrypted."""
    bucket = spec.bucket_for(account_id)
    s3 = aws_client("s3", spec.region)
    done: list[str] = []
    if not _bucket_exists(s3, bucket) and _create_bucket(s3, spec, bucket):
        done.append("created")
    if _ensure_versioning(s3, bucket):
        done.append("versioning enabled")
    if _ensure_public_access_block(s3, bucket):
        done.append("public access blocked")
    if _ensure_encryption(s3, bucket):
        done.append("default encryption SSE-S3")
    summary = f"bucket {bucket}: " + (", ".join(done) if done else "already as wanted")
    get_run_logger().info("state store %s", summary)
    return StepResult(
        step="state-store",
        changed=bool(done),
        summary=summary,
        ids={"bucket": bucket, "state_store": f"s3://{bucket}"},
    )


@task(**RETRY_OPTIONS)
def state_store_exists(spec: EnvironmentSpec, account_id: str) -> bool:
    """Tell whether the state-store bucket exists (read-only)."""
    bucket = spec.bucket_for(account_id)
    try:
        return _bucket_exists(aws_client("s3", spec.region), bucket)
    except ClientError as e:
        raise aws_failure(f"look for bucket {bucket}", e) from e
