"""Decisions of the AWS steps as tables: facts in, what apply does and what the plan says out."""

from __future__ import annotations

from typing import Any

import pytest

from kops_nlb.core.bastion import EC2_TRUST_POLICY
from kops_nlb.core.naming import (
    NLB_POLICY_NAME,
    PROJECT,
    SSM_MANAGED_POLICY_ARN,
    TAG_CLUSTER,
    TAG_COMPONENT,
    TAG_MANAGED_BY,
)
from kops_nlb.core.permissions import NLB_ACTIONS
from kops_nlb.core.plan_aws import (
    BucketFacts,
    RoleFacts,
    decide_bastion_instance,
    decide_bastion_role,
    decide_nlb_permissions,
    decide_security_group,
    decide_state_store,
)

CLUSTER = "c.k8s.local"
OURS = {TAG_MANAGED_BY: PROJECT, TAG_CLUSTER: CLUSTER, TAG_COMPONENT: "state-store"}
ALL_BLOCKED = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
AS_WANTED: dict[str, Any] = {
    "exists": True,
    "tags": OURS,
    "versioning": "Enabled",
    "public_access": ALL_BLOCKED,
    "encryption": SSE,
}

# INPUT: the bucket's facts (changes to AS_WANTED); OUTPUT: status, changed fields, put_tags
STATE_STORE = [
    pytest.param(
        {"exists": False},
        (
            "will create",
            [
                f"tag {TAG_CLUSTER}",
                f"tag {TAG_COMPONENT}",
                f"tag {TAG_MANAGED_BY}",
                "versioning",
                "public access block",
                "default encryption",
            ],
            None,
        ),
        id="absent",
    ),
    pytest.param({}, ("exists", [], None), id="as-wanted"),
    pytest.param(
        {"versioning": "Suspended"}, ("will change", ["versioning"], None), id="suspended"
    ),
    pytest.param(
        {"tags": {TAG_MANAGED_BY: PROJECT, TAG_CLUSTER: CLUSTER}},
        ("will change", [f"tag {TAG_COMPONENT}"], OURS),
        id="our-tag-removed",
    ),
    pytest.param(
        {"tags": {"team": "infra"}, "public_access": None, "encryption": None},
        ("will change", ["public access block", "default encryption"], None),
        id="users-bucket-keeps-its-tags",
    ),
]


@pytest.mark.parametrize(("facts", "expected"), STATE_STORE)
def test_state_store(facts: dict[str, Any], expected: tuple[str, list[str], Any]) -> None:
    decision = decide_state_store(
        "b", BucketFacts(**{**AS_WANTED, **facts}), cluster=CLUSTER, wanted_tags=OURS
    )

    status, fields, put_tags = expected
    assert decision.item.status == status
    assert [c.field for c in decision.item.changes] == fields
    assert decision.put_tags == put_tags
    assert decision.restored_tags == tuple(f.removeprefix("tag ") for f in fields if put_tags)
    assert decision.enable_versioning == ("versioning" in fields)
    assert decision.block_public_access == ("public access block" in fields)
    assert decision.set_encryption == ("default encryption" in fields)


def test_suspended_versioning_is_shown_as_it_is() -> None:
    decision = decide_state_store(
        "b",
        BucketFacts(**{**AS_WANTED, "versioning": "Suspended"}),
        cluster=CLUSTER,
        wanted_tags={},
    )

    [versioning] = decision.item.changes
    assert (versioning.current, versioning.wanted) == ("Suspended", "Enabled")


ROLE = "ssm-bastion.c"
WHOLE_ROLE = RoleFacts(
    role_arn="arn:role",
    trust_policy=EC2_TRUST_POLICY,
    attached_policies=(SSM_MANAGED_POLICY_ARN,),
    profile_arn="arn:profile",
    profile_roles=(ROLE,),
)

# INPUT: facts of the role and profile; OUTPUT: status and the actions apply takes
BASTION_ROLE = [
    pytest.param(
        RoleFacts(),
        ("will create", {"create_role", "attach_ssm", "create_profile", "add_role"}),
        id="absent",
    ),
    pytest.param(WHOLE_ROLE, ("exists", set()), id="as-wanted"),
    pytest.param(
        WHOLE_ROLE.model_copy(update={"attached_policies": (), "trust_policy": {}}),
        ("will change", {"attach_ssm", "set_trust"}),
        id="policy-detached-trust-wrong",
    ),
    pytest.param(
        WHOLE_ROLE.model_copy(update={"profile_arn": None, "profile_roles": ()}),
        ("will change", {"create_profile", "add_role"}),
        id="profile-deleted",
    ),
    pytest.param(
        WHOLE_ROLE.model_copy(update={"profile_roles": ("someone-else",)}),
        ("blocked", set()),
        id="profile-holds-another-role",
    ),
]


@pytest.mark.parametrize(("facts", "expected"), BASTION_ROLE)
def test_bastion_role(facts: RoleFacts, expected: tuple[str, set[str]]) -> None:
    decision = decide_bastion_role(ROLE, facts)

    flags = {"create_role", "set_trust", "attach_ssm", "create_profile", "add_role"}
    assert decision.item.status == expected[0]
    assert {f for f in flags if getattr(decision, f)} == expected[1]
    assert bool(decision.conflict) == (expected[0] == "blocked")


RULE = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

# INPUT: the group as described; OUTPUT: status, create, rules revoked, the diff
SECURITY_GROUP = [
    pytest.param(None, ("will create", True, 0, ["inbound rules: (none) → none"]), id="absent"),
    pytest.param({"GroupId": "sg-1"}, ("exists", False, 0, []), id="no-inbound-rule"),
    pytest.param(
        {"GroupId": "sg-1", "IpPermissions": [RULE]},
        ("will change", False, 1, ["inbound rule: tcp 22-22 from 0.0.0.0/0 → revoked"]),
        id="ssh-opened",
    ),
]


@pytest.mark.parametrize(("group", "expected"), SECURITY_GROUP)
def test_security_group(group: dict[str, Any] | None, expected: tuple[Any, ...]) -> None:
    decision = decide_security_group("sg", "vpc-1", group)

    status, create, revoked, diff = expected
    assert (decision.item.status, decision.create, len(decision.revoke)) == (
        status,
        create,
        revoked,
    )
    assert [f"{c.field}: {c.current} → {c.wanted}" for c in decision.item.changes] == diff


# INPUT: the live bastion's state (None: none); OUTPUT: the action and the status
INSTANCE = [
    pytest.param(None, ("launch", "will create"), id="none"),
    pytest.param("running", ("found", "exists"), id="running"),
    pytest.param("pending", ("found", "exists"), id="pending"),
    pytest.param("stopped", ("start", "will change"), id="stopped"),
    pytest.param("stopping", ("wait", "will change"), id="stopping"),
]


@pytest.mark.parametrize(("state", "expected"), INSTANCE)
def test_bastion_instance(state: str | None, expected: tuple[str, str]) -> None:
    existing = None if state is None else {"InstanceId": "i-1", "State": {"Name": state}}

    decision = decide_bastion_instance(existing, instance_type="t3.micro", placement="subnet-1")

    assert (decision.action, decision.item.status) == expected


def results(**decisions: str) -> list[dict[str, Any]]:
    """Evaluation results: every NLB action allowed unless named (by its short name)."""
    return [
        {"EvalActionName": a, "EvalDecision": decisions.get(a.split(":", 1)[1], "allowed")}
        for a in NLB_ACTIONS
    ]


# INPUT: simulation, actions of our existing policy; OUTPUT: status, put_actions, had_policy
PERMISSIONS = [
    pytest.param(results(), set(), ("exists", (), False), id="kops-grants-all"),
    pytest.param(
        results(RegisterTargets="implicitDeny"),
        set(),
        ("will create", ("elasticloadbalancing:RegisterTargets",), False),
        id="one-missing",
    ),
    pytest.param(
        results(RegisterTargets="implicitDeny"),
        {"ec2:DescribeVpcs"},
        (
            "will change",
            ("ec2:DescribeVpcs", "elasticloadbalancing:RegisterTargets"),
            True,
        ),
        id="missing-kept-with-earlier-grant",
    ),
    pytest.param(
        results(AddTags="explicitDeny"), set(), ("blocked", (), False), id="explicit-deny"
    ),
]


@pytest.mark.parametrize(("evaluation", "ours", "expected"), PERMISSIONS)
def test_nlb_permissions(
    evaluation: list[dict[str, Any]], ours: set[str], expected: tuple[Any, ...]
) -> None:
    decision = decide_nlb_permissions("masters.c", evaluation, ours)

    assert (decision.item.status, decision.put_actions, decision.had_policy) == expected
    assert NLB_POLICY_NAME in decision.item.resource
