"""The control-plane role's NLB permissions as tables: simulation context, missing and denied actions, the policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.permissions import (
    NLB_ACTIONS,
    explicitly_denied,
    granted_by_policy,
    missing_actions,
    nlb_policy_document,
    policy_actions,
    simulation_context,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")


def results(**decisions: str) -> list[dict[str, str]]:
    """Evaluation results: every NLB action allowed unless named (by its short name)."""
    out = []
    for action in NLB_ACTIONS:
        short = action.split(":", 1)[1]
        out.append({"EvalActionName": action, "EvalDecision": decisions.get(short, "allowed")})
    return out


def test_the_fourteen_actions_of_the_procedure() -> None:
    assert len(NLB_ACTIONS) == len(set(NLB_ACTIONS)) == 14
    assert list(NLB_ACTIONS) == sorted(NLB_ACTIONS)
    assert "elasticloadbalancing:SetLoadBalancerPoliciesOfListener" in NLB_ACTIONS


@pytest.mark.parametrize(
    ("evaluation", "missing", "denied"),
    [
        (results(), [], []),
        (
            results(ModifyListener="implicitDeny", DescribeVpcs="implicitDeny"),
            ["ec2:DescribeVpcs", "elasticloadbalancing:ModifyListener"],
            [],
        ),
        (
            results(AddTags="explicitDeny"),
            ["elasticloadbalancing:AddTags"],
            ["elasticloadbalancing:AddTags"],
        ),
        ([], [], []),
    ],
    ids=["all-allowed", "two-missing", "explicit-deny", "no-results"],
)
def test_missing_and_denied(
    evaluation: list[dict[str, str]], missing: list[str], denied: list[str]
) -> None:
    assert missing_actions(evaluation) == missing
    assert explicitly_denied(evaluation) == denied


@pytest.mark.parametrize(
    ("document", "actions"),
    [
        (None, set()),
        ('{"Statement": {"Effect": "Allow", "Action": "ec2:DescribeVpcs"}}', {"ec2:DescribeVpcs"}),
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": ["a:One", "a:Two"], "Resource": "*"},
                    {"Effect": "Deny", "Action": ["a:Three"], "Resource": "*"},
                ]
            },
            {"a:One", "a:Two"},
        ),
    ],
    ids=["none", "json-single-statement", "dict-allow-only"],
)
def test_policy_actions(document: Any, actions: set[str]) -> None:
    assert policy_actions(document) == actions


def test_policy_document_scopes_writes_to_the_clusters_resources() -> None:
    document = json.loads(
        nlb_policy_document(
            [
                "elasticloadbalancing:RegisterTargets",
                "ec2:DescribeVpcs",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:CreateTargetGroup",
                "ec2:DescribeVpcs",
            ],
            "c.k8s.local",
        )
    )
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeVpcs"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:AddTags",
                    "elasticloadbalancing:CreateTargetGroup",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/KubernetesCluster": "c.k8s.local"}},
            },
            {
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RegisterTargets"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/KubernetesCluster": "c.k8s.local"}},
            },
        ],
    }
    assert policy_actions(document) == {
        "ec2:DescribeVpcs",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:RegisterTargets",
    }


def test_every_nlb_action_lands_in_exactly_one_kind_of_statement() -> None:
    document = json.loads(nlb_policy_document(NLB_ACTIONS, "c.k8s.local"))
    granted = [a for s in document["Statement"] for a in s["Action"]]
    assert sorted(set(granted)) == sorted(NLB_ACTIONS)
    unscoped = [a for s in document["Statement"] if "Condition" not in s for a in s["Action"]]
    assert all(":Describe" in a for a in unscoped)


def test_simulation_context_names_the_cluster_tag() -> None:
    assert simulation_context("c.k8s.local") == [
        {
            "ContextKeyName": "aws:ResourceTag/KubernetesCluster",
            "ContextKeyValues": ["c.k8s.local"],
            "ContextKeyType": "string",
        },
        {
            "ContextKeyName": "aws:RequestTag/KubernetesCluster",
            "ContextKeyValues": ["c.k8s.local"],
            "ContextKeyType": "string",
        },
    ]


# ---- exact requests ---------------------------------------------------------------------


def test_granted_by_policy_reads_the_matched_statements() -> None:
    evaluation: list[dict[str, Any]] = [
        {
            "EvalActionName": "a:One",
            "EvalDecision": "allowed",
            "MatchedStatements": [{"SourcePolicyId": NLB_POLICY_NAME, "SourcePolicyType": "role"}],
        },
        {
            "EvalActionName": "a:Two",
            "EvalDecision": "allowed",
            "MatchedStatements": [{"SourcePolicyId": "masters.c", "SourcePolicyType": "role"}],
        },
        {"EvalActionName": "a:Three", "EvalDecision": "implicitDeny"},
    ]
    assert granted_by_policy(evaluation, NLB_POLICY_NAME) == ["a:One"]


# ---- the local twin (SimulatePrincipalPolicy evaluated over the role's real policies) -------
