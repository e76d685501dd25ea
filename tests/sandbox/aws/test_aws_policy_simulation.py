"""The pure policy evaluator behind SimulatePrincipalPolicy, as input/output tables."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.aws.policy_simulation import SourcePolicy, evaluate, parse_document, wildcard_match

WILDCARDS = [
    # pattern, value, ignore_case, matches
    ("*", "anything:at-all", False, True),
    ("ec2:Describe*", "ec2:DescribeInstances", True, True),
    ("ec2:describe*", "EC2:DescribeInstances", True, True),
    ("ec2:describe*", "EC2:DescribeInstances", False, False),
    ("ec2:?erminateInstances", "ec2:TerminateInstances", True, True),
    ("ec2:?erminateInstances", "ec2:erminateInstances", True, False),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b", False, True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::other/a", False, False),
    ("arn:aws:s3:::bucket/*", "*", False, False),
    ("a.b", "axb", False, False),
]


@pytest.mark.parametrize(("pattern", "value", "ignore_case", "expected"), WILDCARDS)
def test_wildcard_match(pattern: str, value: str, ignore_case: bool, expected: bool) -> None:
    assert wildcard_match(pattern, value, ignore_case=ignore_case) is expected


def policy(*statements: dict[str, Any]) -> SourcePolicy:
    return SourcePolicy("p", "role", {"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ALL_EC2 = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}
DENY_TERMINATE = {"Effect": "Deny", "Action": ["ec2:TerminateInstances"], "Resource": "*"}
ALLOW_NOT_IAM = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
ALLOW_BUCKET = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
ALLOW_TAGGED = {
    "Effect": "Allow",
    "Action": "ec2:CreateTags",
    "Resource": "*",
    "Condition": {"StringLike": {"aws:RequestTag/Name": "nodes.*"}},
}
DENY_UNLESS_TAGGED = {
    "Effect": "Deny",
    "Action": "ec2:CreateTags",
    "Resource": "*",
    "Condition": {"StringNotEquals": {"aws:RequestTag/KubernetesCluster": "demo"}},
}
NO_ACTION = {"Effect": "Allow", "Resource": "*"}

DECISIONS = [
    # statements, action, resource, context, decision
    ([ALLOW_ALL_EC2], "ec2:RunInstances", "*", {}, "allowed"),
    ([ALLOW_ALL_EC2, DENY_TERMINATE], "ec2:TerminateInstances", "*", {}, "explicitDeny"),
    ([ALLOW_ALL_EC2], "s3:GetObject", "*", {}, "implicitDeny"),
    ([ALLOW_NOT_IAM], "s3:GetObject", "*", {}, "allowed"),
    ([ALLOW_NOT_IAM], "iam:CreateRole", "*", {}, "implicitDeny"),
    ([ALLOW_BUCKET], "s3:GetObject", "arn:aws:s3:::public/x", {}, "allowed"),
    ([ALLOW_BUCKET], "s3:GetObject", "arn:aws:s3:::secret/x", {}, "implicitDeny"),
    ([ALLOW_TAGGED], "ec2:CreateTags", "*", {"aws:RequestTag/Name": ["nodes.demo"]}, "allowed"),
    ([ALLOW_TAGGED], "ec2:CreateTags", "*", {"aws:requesttag/name": ["nodes.demo"]}, "allowed"),
    ([ALLOW_TAGGED], "ec2:CreateTags", "*", {"aws:RequestTag/Name": ["master"]}, "implicitDeny"),
    ([ALLOW_TAGGED], "ec2:CreateTags", "*", {}, "implicitDeny"),
    ([ALLOW_ALL_EC2, DENY_UNLESS_TAGGED], "ec2:CreateTags", "*", {}, "explicitDeny"),
    (
        [ALLOW_ALL_EC2, DENY_UNLESS_TAGGED],
        "ec2:CreateTags",
        "*",
        {"aws:RequestTag/KubernetesCluster": ["demo"]},
        "allowed",
    ),
    ([NO_ACTION], "ec2:RunInstances", "*", {}, "implicitDeny"),
    ([], "ec2:RunInstances", "*", {}, "implicitDeny"),
]


@pytest.mark.parametrize(("statements", "action", "resource", "context", "decision"), DECISIONS)
def test_decision(
    statements: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, list[str]],
    decision: str,
) -> None:
    (result,) = evaluate(
        policies=[policy(*statements)], actions=[action], resources=[resource], context=context
    )
    assert result.decision == decision


def test_missing_context_keys_are_reported() -> None:
    (result,) = evaluate(policies=[policy(ALLOW_TAGGED)], actions=["ec2:CreateTags"])

    assert result.missing_context == ("aws:RequestTag/Name",)


def test_one_result_per_action_and_resource_in_order() -> None:
    results = evaluate(
        policies=[policy(ALLOW_ALL_EC2)],
        actions=["ec2:A", "ec2:B"],
        resources=["arn:1", "arn:2"],
    )

    assert [(r.action, r.resource) for r in results] == [
        ("ec2:A", "arn:1"),
        ("ec2:A", "arn:2"),
        ("ec2:B", "arn:1"),
        ("ec2:B", "arn:2"),
    ]


def test_single_statement_object_and_json_text_documents() -> None:
    text = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    (result,) = evaluate(
        policies=[SourcePolicy("t", "role", parse_document(text))],
        actions=["sts:GetCallerIdentity"],
    )

    assert result.decision == "allowed"
