"""The control-plane role's NLB permissions: which actions, how to simulate them, what is missing (pure).

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
