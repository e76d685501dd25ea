"""Removing the kops state store: only a bucket the project made, or one the user names and forces."""

from __future__ import annotations

from kops_nlb.aws import s3
from kops_nlb.core.errors import ConflictError
from kops_nlb.core.logs import Logger
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.state_store import other_entries, state_store_decision


def _ids(bucket: str) -> dict[str, str]:
    return {"bucket": bucket, "state_store": f"s3://{bucket}"}


def remove_state_store(
    spec: EnvironmentSpec, account_id: str, *, force: bool = False, logger: Logger
) -> StepResult:
    """Empty and delete the state-store bucket when ownership allows (see state_store_decision)."""
    bucket, region = spec.bucket_for(account_id), spec.region
    gone = StepResult(
        step="state-store", changed=False, summary=f"bucket {bucket} already gone", ids=_ids(bucket)
    )
    if not s3.bucket_exists(region, bucket):
        return gone
    tags, versions, markers = s3.bucket_tags_and_versions(region, bucket)
    action, reason = state_store_decision(
        tags,
        cluster=spec.cluster_name,
        named_by_user=spec.state_store_bucket is not None,
        force=force,
        other_entries=other_entries(
            (v["Key"] for v in versions if v.get("IsLatest")), spec.cluster_name
        ),
    )
    if action == "refuse":
        raise ConflictError(f"refusing to delete S3 bucket {bucket}: {reason}")
    if action == "left":
        summary = f"left: {reason} (bucket {bucket})"
        logger.warning(summary)
        ids = {**_ids(bucket), "kind": "bucket", "id": bucket}
        return StepResult(step="state-store", changed=False, left=True, summary=summary, ids=ids)
    if not s3.empty_and_delete_bucket(region, bucket, [*versions, *markers]):
        return gone
    summary = (
        f"deleted bucket {bucket} ({reason}): {len(versions)} object version(s), "
        f"{len(markers)} delete marker(s)"
    )
    logger.info(summary)
    return StepResult(step="state-store", changed=True, summary=summary, ids=_ids(bucket))
