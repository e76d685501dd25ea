"""The kops state store's rules: how it is created, what "as wanted" means, when it may go (pure).

kops keeps the cluster spec and its PKI in this bucket, so versioning (to recover an overwritten
spec), a full public access block and default encryption are set whenever they are missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from kops_nlb.core.naming import PROJECT, TAG_CLUSTER, TAG_MANAGED_BY
from kops_nlb.core.sequences import chunks

COMPONENT = "state-store"
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
# S3 DeleteObjects takes at most 1,000 keys per request.
DELETE_OBJECTS_BATCH = 1000
StoreAction = Literal["delete", "left", "refuse"]


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


def state_store_decision(
    tags: Mapping[str, str],
    *,
    cluster: str,
    named_by_user: bool,
    force: bool,
    other_entries: Sequence[str] = (),
) -> tuple[StoreAction, str]:
    """Decide what to do with the state-store bucket, and say why.

    The project tags a bucket only when it creates it, so a tagged bucket is ours. An untagged
    bucket named in the spec may be the user's: deleted only with ``force``. An untagged bucket
    under the derived name is refused: the name is the project's, the bucket apparently not.
    Content outside ``<cluster>/`` (another cluster's kops state) is left unless forced.
    """
    managed = tags.get(TAG_MANAGED_BY) == PROJECT
    owner = tags.get(TAG_CLUSTER)
    if managed and owner != cluster:
        return "refuse", f"tagged for cluster {owner!r}, not {cluster!r}"
    if not managed and not named_by_user:
        return "refuse", (
            "the derived state-store name, but not tagged by kops-nlb-flows; if it is yours, "
            "name it in state_store_bucket and pass force=True"
        )
    if not managed and not force:
        return "left", (
            "not created by kops-nlb-flows (named in the spec); pass force=True to delete it"
        )
    if other_entries and not force:
        shown = ", ".join(other_entries[:5]) + (" ..." if len(other_entries) > 5 else "")
        return "left", f"holds more than this cluster's state ({shown}); pass force=True"
    return "delete", "created by kops-nlb-flows" if managed else "named in the spec, force=True"


def other_entries(current_keys: Iterable[str], cluster: str) -> list[str]:
    """Return the bucket's top-level entries other than the cluster's own ``<cluster>/`` folder."""
    tops = {key.split("/", 1)[0] + ("/" if "/" in key else "") for key in current_keys}
    return sorted(tops - {f"{cluster}/"})


def version_batches(
    versions: Iterable[Mapping[str, Any]], size: int = DELETE_OBJECTS_BATCH
) -> list[list[dict[str, str]]]:
    """Return DeleteObjects entries (key, version id) of versions and delete markers, in batches."""
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
    return [list(batch) for batch in chunks(entries, size)]
