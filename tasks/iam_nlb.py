"""The control-plane role's NLB permissions: check first, write a policy only for what is missing.

The 2018 procedure added an inline policy with 14 actions to ``masters.<cluster>``. kops 1.36
already grants all of them through the cloud-controller permissions of that role, but only in
part unconditionally: the write actions are allowed on resources tagged (or, for creates,
requested with the tag) ``KubernetesCluster=<cluster>``, which is how the cloud controller tags
everything it makes. The simulation therefore passes those two tag keys as context; without
them IAM would report the conditional actions as denied and we would add a needless policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger, task

from kops_nlb.aws.client import aws_client, paginate
from kops_nlb.core.errors import ConflictError, KopsNlbError, aws_error_code, aws_failure
from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._options import RETRY_OPTIONS

# The actions of the original procedure's inline policy; the cloud controller needs them to
# create, update and delete NLBs, their listeners and target groups.
NLB_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeVpcs",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
)


def simulation_context(cluster_name: str) -> list[dict[str, Any]]:
    """Return the context entries that make the simulation see cluster-tagged resources."""
    return [
        {
            "ContextKeyName": f"aws:{kind}/KubernetesCluster",
            "ContextKeyValues": [cluster_name],
            "ContextKeyType": "string",
        }
        for kind in ("ResourceTag", "RequestTag")
    ]


def missing_actions(evaluation_results: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the simulated actions that are not allowed, sorted."""
    return sorted(
        str(r["EvalActionName"]) for r in evaluation_results if r.get("EvalDecision") != "allowed"
    )


def explicitly_denied(evaluation_results: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the simulated actions an explicit Deny blocks (an added Allow cannot help)."""
    return sorted(
        str(r["EvalActionName"])
        for r in evaluation_results
        if r.get("EvalDecision") == "explicitDeny"
    )


def granted_by_policy(
    evaluation_results: Iterable[Mapping[str, Any]], policy_name: str
) -> list[str]:
    """Return the allowed actions that a statement of the inline policy `policy_name` matched."""
    return sorted(
        str(r["EvalActionName"])
        for r in evaluation_results
        if r.get("EvalDecision") == "allowed"
        and any(m.get("SourcePolicyId") == policy_name for m in r.get("MatchedStatements") or [])
    )


def policy_actions(document: Mapping[str, Any] | str | None) -> set[str]:
    """Return every action an Allow statement of a policy document names."""
    if document is None:
        return set()
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    actions: set[str] = set()
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        action = statement.get("Action", [])
        actions.update([action] if isinstance(action, str) else action)
    return actions


def nlb_policy_document(actions: Iterable[str]) -> str:
    """Return the inline policy JSON allowing `actions` on every resource."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": sorted(set(actions)), "Resource": "*"}],
        },
        sort_keys=True,
    )


def _role_arn(iam: Any, role: str) -> str:
    try:
        return str(iam.get_role(RoleName=role)["Role"]["Arn"])
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            raise KopsNlbError(
                f"IAM role {role} does not exist: the cluster has not been created yet "
                "(kops update cluster --yes creates it)"
            ) from e
        raise aws_failure(f"read IAM role {role}", e) from e


def _our_policy_actions(iam: Any, role: str) -> set[str]:
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=NLB_POLICY_NAME)["PolicyDocument"]
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return set()
        raise aws_failure(f"read inline policy {NLB_POLICY_NAME} of role {role}", e) from e
    return policy_actions(document)


@task(**RETRY_OPTIONS)
def ensure_nlb_permissions(spec: EnvironmentSpec) -> StepResult:
    """Grant the control-plane role whichever NLB actions it lacks (usually none)."""
    role = spec.control_plane_role
    iam = aws_client("iam", spec.region)
    role_arn = _role_arn(iam, role)
    try:
        results = paginate(
            iam,
            "simulate_principal_policy",
            "EvaluationResults",
            PolicySourceArn=role_arn,
            ActionNames=list(NLB_ACTIONS),
            ContextEntries=simulation_context(spec.cluster_name),
        )
    except ClientError as e:
        raise aws_failure(f"simulate the NLB actions for role {role}", e) from e
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
    actions = _our_policy_actions(iam, role) | set(missing)
    try:
        iam.put_role_policy(
            RoleName=role, PolicyName=NLB_POLICY_NAME, PolicyDocument=nlb_policy_document(actions)
        )
    except ClientError as e:
        raise aws_failure(f"put inline policy {NLB_POLICY_NAME} on role {role}", e) from e
    summary = f"added {len(missing)} actions to {role} ({NLB_POLICY_NAME}): {', '.join(missing)}"
    get_run_logger().info(summary)
    return StepResult(step="nlb-permissions", changed=True, summary=summary, ids=ids)


@task(**RETRY_OPTIONS)
def remove_nlb_permissions(spec: EnvironmentSpec) -> StepResult:
    """Delete the project's NLB inline policy from the control-plane role, if present."""
    role = spec.control_plane_role
    iam = aws_client("iam", spec.region)
    ids = {"role": role, "policy": NLB_POLICY_NAME}
    try:
        iam.delete_role_policy(RoleName=role, PolicyName=NLB_POLICY_NAME)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            summary = f"no {NLB_POLICY_NAME} policy on {role} (or no such role)"
            return StepResult(step="nlb-permissions", changed=False, summary=summary, ids=ids)
        raise aws_failure(f"delete inline policy {NLB_POLICY_NAME} of role {role}", e) from e
    summary = f"deleted inline policy {NLB_POLICY_NAME} from {role}"
    get_run_logger().info(summary)
    return StepResult(step="nlb-permissions", changed=True, summary=summary, ids=ids)
