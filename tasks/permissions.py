"""The control-plane role's NLB permissions: check first, write a policy only for what is missing."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import iam
from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.permissions import (
    NLB_ACTIONS,
    explicitly_denied,
    granted_by_policy,
    missing_actions,
    simulation_context,
)
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS


@task(**RETRY_OPTIONS)
def ensure_nlb_permissions(spec: EnvironmentSpec) -> StepResult:
    """Grant the control-plane role whichever NLB actions it lacks (usually none)."""
    role, region = spec.control_plane_role, spec.region
    role_arn = iam.control_plane_role_arn(region, role)
    results = iam.simulate_nlb_actions(
        region, role, role_arn, simulation_context(spec.cluster_name)
    )
    denied = explicitly_denied(results)
    if denied:
        raise ConflictError(
            f"role {role} is explicitly denied {', '.join(denied)} (a Deny statement or a "
            "permissions boundary); an added Allow cannot override that"
        )
    missing = missing_actions(results)
    ids = {"role": role, "policy": NLB_POLICY_NAME}
    if not missing:
        ours = granted_by_policy(results, NLB_POLICY_NAME)
        by = f"{len(ours)} of them by {NLB_POLICY_NAME} of an earlier run" if ours else "by kops"
        summary = f"all {len(NLB_ACTIONS)} NLB actions already granted to {role} ({by})"
        get_run_logger().info(summary)
        return StepResult(step="nlb-permissions", changed=False, summary=summary, ids=ids)
    # Keep what an earlier run granted: the simulation counts it as allowed, not missing.
    had_policy = iam.nlb_policy_actions(region, role)
    iam.put_nlb_policy(region, role, had_policy | set(missing), spec.cluster_name)
    summary = f"added {len(missing)} actions to {role} ({NLB_POLICY_NAME}): {', '.join(missing)}"
    get_run_logger().info(summary)
    return StepResult(
        step="nlb-permissions",
        changed=True,
        created=frozenset(() if had_policy else {"policy"}),
        summary=summary,
        ids=ids,
    )


@task(**RETRY_OPTIONS)
def remove_nlb_permissions(spec: EnvironmentSpec) -> StepResult:
    """Delete the project's NLB inline policy from the control-plane role, if present."""
    role = spec.control_plane_role
    ids = {"role": role, "policy": NLB_POLICY_NAME}
    if not iam.delete_nlb_policy(spec.region, role):
        summary = f"no {NLB_POLICY_NAME} policy on {role} (or no such role)"
        return StepResult(step="nlb-permissions", changed=False, summary=summary, ids=ids)
    summary = f"deleted inline policy {NLB_POLICY_NAME} from {role}"
    get_run_logger().info(summary)
    return StepResult(step="nlb-permissions", changed=True, summary=summary, ids=ids)
