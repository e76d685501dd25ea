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

from kops_nlb.core.naming import CLUSTER_TAG

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


# Actions without resource-level permissions: IAM only accepts them on "*".
READ_ONLY_ACTIONS = frozenset(
    {
        "ec2:DescribeVpcs",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    }
)
# Actions that create (and tag) a resource: allowed only when the request tags it as the cluster's.
CREATING_ACTIONS = frozenset(
    {"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags"}
)


def nlb_policy_document(actions: Iterable[str], cluster_name: str) -> str:
    """Return the inline policy JSON allowing `actions`, scoped to the cluster's resources.

    Scoped the way kops scopes the cloud controller's own grants (and the AWS Load Balancer
    Controller its policy): reads on "*" (they have no resource-level permissions), creates only
    with the request tag ``KubernetesCluster=<cluster>``, everything else only on resources that
    carry that tag, which the cloud controller puts on all it makes.
    """
    wanted = set(actions)
    reads = wanted & READ_ONLY_ACTIONS
    creates = wanted & CREATING_ACTIONS
    # AddTags also re-tags what already exists, so it is in both of the scoped statements.
    on_tagged = (wanted - READ_ONLY_ACTIONS - CREATING_ACTIONS) | (
        creates & {"elasticloadbalancing:AddTags"}
    )
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": sorted(reads), "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": sorted(creates),
            "Resource": "*",
            "Condition": {"StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": cluster_name}},
        },
        {
            "Effect": "Allow",
            "Action": sorted(on_tagged),
            "Resource": "*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": cluster_name}},
        },
    ]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [s for s in statements if s["Action"]]},
        sort_keys=True,
    )
