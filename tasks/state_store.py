"""The kops state store: one S3 bucket, versioned, private and encrypted; and its deletion.

Tags are set on a bucket this task creates, and put back on the project's own bucket (one that
still carries both of the project's marks) when one was removed or changed: a user's existing
bucket keeps its tags, and only a tagged bucket counts as the project's when teardown deletes it.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import s3
from kops_nlb.aws.removal.state_store import remove_state_store
from kops_nlb.core.naming import project_tags
from kops_nlb.core.plan import PlanItem
from kops_nlb.core.plan_aws import BucketFacts, StateStoreDecision, decide_state_store
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.state_store import COMPONENT
from tasks._options import RETRY_OPTIONS


def _ids(bucket: str) -> dict[str, str]:
    return {"bucket": bucket, "state_store": f"s3://{bucket}"}


def _decide(spec: EnvironmentSpec, bucket: str) -> StateStoreDecision:
    """Describe the bucket and decide what apply does to it."""
    exists = s3.bucket_exists(spec.region, bucket)
    facts = s3.bucket_facts(spec.region, bucket) if exists else BucketFacts(exists=False)
    return decide_state_store(
        bucket, facts, cluster=spec.cluster_name, wanted_tags=project_tags(spec, COMPONENT)
    )


def _act(region: str, bucket: str, decision: StateStoreDecision) -> list[str]:
    """Set what the decision says is missing; return what was done."""
    done = []
    if decision.put_tags is not None:
        s3.put_bucket_tags(region, bucket, decision.put_tags)
        done.append(f"tags restored: {', '.join(decision.restored_tags)}")
    for needed, act, what in (
        (decision.enable_versioning, s3.enable_versioning, "versioning enabled"),
        (decision.block_public_access, s3.block_public_access, "public access blocked"),
        (decision.set_encryption, s3.set_default_encryption, "default encryption SSE-S3"),
    ):
        if needed:
            act(region, bucket)
            done.append(what)
    return done


@task(**RETRY_OPTIONS)
def ensure_state_store(spec: EnvironmentSpec, account_id: str) -> StepResult:
    """Create the kops state-store bucket if missing and make it versioned, private, encrypted."""
    bucket, region = spec.bucket_for(account_id), spec.region
    decision = _decide(spec, bucket)
    created = False
    if decision.create:
        created = s3.create_bucket(region, bucket, project_tags(spec, COMPONENT))
        # A new bucket may come with some settings (AWS's defaults): decide on it as it is now.
        decision = _decide(spec, bucket)
    done = ["created"] if created else []
    done += _act(region, bucket, decision)
    summary = f"bucket {bucket}: " + (", ".join(done) if done else "already as wanted")
    get_run_logger().info("state store %s", summary)
    return StepResult(
        step="state-store",
        changed=bool(done),
        created=frozenset({"bucket"} if created else ()),
        summary=summary,
        ids=_ids(bucket),
    )


@task(**RETRY_OPTIONS)
def plan_state_store(spec: EnvironmentSpec, account_id: str) -> PlanItem:
    """Return what `ensure_state_store` would do to the bucket (reads only)."""
    return _decide(spec, spec.bucket_for(account_id)).item


@task(**RETRY_OPTIONS)
def state_store_exists(spec: EnvironmentSpec, account_id: str) -> bool:
    """Tell whether the state-store bucket exists (read-only)."""
    return s3.bucket_exists(spec.region, spec.bucket_for(account_id))


@task(**RETRY_OPTIONS, cache_policy=NO_CACHE)
def delete_state_store(
    spec: EnvironmentSpec, account_id: str, *, force: bool = False
) -> StepResult:
    """Empty (every version and delete marker) and delete the kops state-store bucket.

    Deletes a bucket the project made (tagged), or a bucket named in the spec when `force` is
    set; leaves another named bucket alone (``left``), and refuses an untagged bucket under the
    derived name (ConflictError). A missing bucket is reported unchanged.
    """
    return remove_state_store(spec, account_id, force=force, logger=get_run_logger())
