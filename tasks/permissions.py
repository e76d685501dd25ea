"""The control-plane role's NLB permissions: check first, write a policy only for what is missing."""

from __future__ import annotations

from prefect import get_run_logger, task

from kops_nlb.aws import iam
from kops_nlb.core.errors import ConflictError
from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.permissions import (
    NLB_ACTIONS,
    explicitly_denied,
    missing_actions,
    simulation_context,
)
from kops_nlb.core.plan import PlanItem, blocked_item
from kops_nlb.core.plan_aws import PermissionsDecision, decide_nlb_permissions
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS


def _decide(spec: EnvironmentSpec, role_arn: str) -> PermissionsDecision:
    """Simulate the NLB actions for the role and decide what to add."""
    role, region = spec.control_plane_role, spec.region
    results = iam.simulate_nlb_actions(
        region, role, role_arn, simulation_context(spec.cluster_name)
    )
    # Only what the simulation misses needs the current policy (to keep an earlier run's grants).
    needed = missing_actions(results) and not explicitly_denied(results)
    had = iam.nlb_policy_actions(region, role) if needed else set()
    return decide_nlb_permissions(role, results, had)


@task(**RETRY_OPTIONS)
def ensure_nlb_permissions(spec: EnvironmentSpec) -> StepResult:
    """Grant the control-plane role whichever NLB actions it lacks (usually none)."""
    role, region = spec.control_plane_role, spec.region
    decision = _decide(spec, iam.control_plane_role_arn(region, role))
    if decision.denied:
        raise ConflictError(decision.item.reason)
    ids = {"role": role, "policy": NLB_POLICY_NAME}
    if not decision.put_actions:
        ours = decision.granted_by_ours
        by = f"{len(ours)} of them by {NLB_POLICY_NAME} of an earlier run" if ours else "by kops"
        summary = f"all {len(NLB_ACTIONS)} NLB actions already granted to {role} ({by})"
        get_run_logger().info(summary)
        return StepResult(step="nlb-permissions", changed=False, summary=summary, ids=ids)
    iam.put_nlb_policy(region, role, decision.put_actions, spec.cluster_name)
    missing = [c.wanted for c in decision.item.changes]
    summary = f"added {len(missing)} actions to {role} ({NLB_POLICY_NAME}): {', '.join(missing)}"
    get_run_logger().info(summary)
    return StepResult(
        step="nlb-permissions",
        changed=True,
        created=frozenset(() if decision.had_policy else {"policy"}),
        summary=summary,
        ids=ids,
    )


@task(**RETRY_OPTIONS)
def plan_nlb_permissions(spec: EnvironmentSpec, *, cluster_exists: bool) -> PlanItem:
    """Return what `ensure_nlb_permissions` would do (reads only).

    Before kops has made the control-plane role, the permissions come with it.
    """
    role = spec.control_plane_role
    resource = f"NLB permissions of IAM role {role}"
    role_arn = iam.control_plane_role_arn_or_none(spec.region, role)
    if role_arn is not None:
        return _decide(spec, role_arn).item
    if cluster_exists:
        return blocked_item(
            "nlb-permissions",
            resource,
            f"IAM role {role} does not exist although kops knows the cluster: "
            "run `kops update cluster --yes`",
        )
    return PlanItem(
        step="nlb-permissions",
        resource=resource,
        status="will create",
        notes=(
            (
                f"kops creates {role} with the cloud controller's permissions (all "
                f"{len(NLB_ACTIONS)} NLB actions); provision then checks them and adds only what "
                "is missing"
            ),
        ),
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
