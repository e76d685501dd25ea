"""IAM through boto3 over HTTP: managed policies, inline policies, SimulatePrincipalPolicy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ClientFactory = Callable[..., Any]

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
MASTERS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ec2:Describe*", "elasticloadbalancing:*"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": "ec2:?erminateInstances",
            "Resource": "arn:aws:ec2:ap-northeast-1:123456789012:instance/*",
        },
        {"Effect": "Deny", "Action": "elasticloadbalancing:DeleteLoadBalancer", "Resource": "*"},
        {
            "Effect": "Deny",
            "NotAction": ["ec2:*", "elasticloadbalancing:*", "iam:*"],
            "Resource": "*",
        },
    ],
}
ROLE_ARN = "arn:aws:iam::123456789012:role/masters.demo.k8s.local"


@pytest.fixture
def masters_role(client: ClientFactory) -> str:
    """kops's masters role with its inline policy."""
    iam = client("iam")
    iam.create_role(RoleName="masters.demo.k8s.local", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(
        RoleName="masters.demo.k8s.local",
        PolicyName="masters.demo.k8s.local",
        PolicyDocument=json.dumps(MASTERS_POLICY),
    )
    return "masters.demo.k8s.local"


def decisions(iam: Any, actions: list[str], **extra: Any) -> dict[str, str]:
    """Simulate the masters role and return action -> decision."""
    response = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN, ActionNames=actions, **extra)
    return {r["EvalActionName"]: r["EvalDecision"] for r in response["EvaluationResults"]}


def test_ssm_core_managed_policy_can_be_attached(client: ClientFactory) -> None:
    iam = client("iam")
    iam.create_role(RoleName="bastion", AssumeRolePolicyDocument=TRUST)

    iam.attach_role_policy(
        RoleName="bastion", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )

    attached = iam.list_attached_role_policies(RoleName="bastion")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonSSMManagedInstanceCore"]


def test_inline_policy_round_trip(client: ClientFactory, masters_role: str) -> None:
    iam = client("iam")

    names = iam.list_role_policies(RoleName=masters_role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=masters_role, PolicyName=names[0])["PolicyDocument"]

    assert names == ["masters.demo.k8s.local"]
    assert document == MASTERS_POLICY
    assert iam.get_role(RoleName=masters_role)["Role"]["Arn"] == ROLE_ARN


def test_simulate_allowed_implicit_and_explicit_deny(
    client: ClientFactory, masters_role: str
) -> None:
    result = decisions(
        client("iam"),
        [
            "ec2:DescribeInstances",
            "EC2:describesecuritygroups",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:DeleteLoadBalancer",
            "ec2:RunInstances",
            "s3:GetObject",
        ],
    )

    assert result == {
        "ec2:DescribeInstances": "allowed",
        "EC2:describesecuritygroups": "allowed",
        "elasticloadbalancing:CreateLoadBalancer": "allowed",
        "elasticloadbalancing:DeleteLoadBalancer": "explicitDeny",
        "ec2:RunInstances": "implicitDeny",
        "s3:GetObject": "explicitDeny",
    }


def test_simulate_reports_the_matched_statements(client: ClientFactory, masters_role: str) -> None:
    response = client("iam").simulate_principal_policy(
        PolicySourceArn=ROLE_ARN, ActionNames=["ec2:DescribeInstances", "ec2:RunInstances"]
    )

    allowed, denied = response["EvaluationResults"]
    assert allowed["EvalResourceName"] == "*"
    assert allowed["MatchedStatements"] == [
        {"SourcePolicyId": "masters.demo.k8s.local", "SourcePolicyType": "role"}
    ]
    assert denied["MatchedStatements"] == []


def test_simulate_resource_arns(client: ClientFactory, masters_role: str) -> None:
    iam = client("iam")
    instance = "arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0123456789abcdef0"

    on_instance = decisions(iam, ["ec2:TerminateInstances"], ResourceArns=[instance])
    on_anything = decisions(iam, ["ec2:TerminateInstances"])

    assert on_instance == {"ec2:TerminateInstances": "allowed"}
    assert on_anything == {"ec2:TerminateInstances": "implicitDeny"}


def test_simulate_includes_attached_managed_policies(client: ClientFactory) -> None:
    iam = client("iam")
    iam.create_role(RoleName="bastion", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(
        RoleName="bastion", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )

    response = iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:role/bastion",
        ActionNames=["ssmmessages:OpenControlChannel", "ec2:RunInstances"],
    )

    agent, launch = response["EvaluationResults"]
    assert agent["EvalDecision"] == "allowed"
    assert agent["MatchedStatements"][0] == {
        "SourcePolicyId": "AmazonSSMManagedInstanceCore",
        "SourcePolicyType": "aws-managed",
    }
    assert launch["EvalDecision"] == "implicitDeny"


def test_simulate_condition_needs_its_context_key(client: ClientFactory) -> None:
    iam = client("iam")
    iam.create_role(RoleName="nodes", AssumeRolePolicyDocument=TRUST)
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/KubernetesCluster": "demo.k8s.local"}},
        },
    }
    iam.put_role_policy(RoleName="nodes", PolicyName="nodes", PolicyDocument=json.dumps(policy))
    arn = "arn:aws:iam::123456789012:role/nodes"

    without = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ec2:CreateTags"])
    with_context = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["ec2:CreateTags"],
        ContextEntries=[
            {
                "ContextKeyName": "aws:RequestTag/KubernetesCluster",
                "ContextKeyValues": ["demo.k8s.local"],
                "ContextKeyType": "string",
            }
        ],
    )

    (missing,) = without["EvaluationResults"]
    assert missing["EvalDecision"] == "implicitDeny"
    assert missing["MissingContextValues"] == ["aws:RequestTag/KubernetesCluster"]
    assert with_context["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_simulate_unknown_role_is_no_such_entity(client: ClientFactory) -> None:
    with pytest.raises(ClientError) as err:
        client("iam").simulate_principal_policy(
            PolicySourceArn="arn:aws:iam::123456789012:role/nobody", ActionNames=["ec2:*"]
        )

    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
