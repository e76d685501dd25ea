"""NLB permissions: which actions are missing, and the policy written only for those."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.errors import ConflictError, KopsNlbError
from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.permissions import (
    NLB_ACTIONS,
    nlb_policy_document,
    policy_actions,
    simulation_context,
)
from kops_nlb.core.spec import EnvironmentSpec
from tasks.permissions import ensure_nlb_permissions, remove_nlb_permissions
from tests.core.test_permissions import results

pytestmark = pytest.mark.usefixtures("no_run_logger")

ROLE_ARN = "arn:aws:iam::123456789012:role/masters.nlb-demo.k8s.local"


# ---- exact requests ---------------------------------------------------------------------


def queue_role_and_simulation(
    stub: Any, spec: EnvironmentSpec, evaluation: list[dict[str, str]]
) -> None:
    stub.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": spec.control_plane_role,
                "RoleId": "AROAEXAMPLE000000000",
                "Arn": ROLE_ARN,
                "CreateDate": "2026-01-01T00:00:00Z",
            }
        },
        {"RoleName": spec.control_plane_role},
    )
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": evaluation, "IsTruncated": False},
        {
            "PolicySourceArn": ROLE_ARN,
            "ActionNames": list(NLB_ACTIONS),
            "ContextEntries": simulation_context(spec.cluster_name),
        },
    )


def test_nothing_is_written_when_kops_granted_everything(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    queue_role_and_simulation(aws_stubs["iam"], spec, results())

    result = ensure_nlb_permissions.fn(spec)  # a put_role_policy call would fail: none is queued

    assert (result.changed, result.summary) == (
        False,
        "all 14 NLB actions already granted to masters.nlb-demo.k8s.local (by kops)",
    )


def test_only_missing_actions_are_put(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["iam"]
    queue_role_and_simulation(
        stub,
        spec,
        results(SetLoadBalancerPoliciesOfListener="implicitDeny", DescribeVpcs="implicitDeny"),
    )
    stub.add_client_error("get_role_policy", "NoSuchEntity", "no policy", 404)
    stub.add_response(
        "put_role_policy",
        {},
        {
            "RoleName": spec.control_plane_role,
            "PolicyName": NLB_POLICY_NAME,
            "PolicyDocument": nlb_policy_document(
                ["ec2:DescribeVpcs", "elasticloadbalancing:SetLoadBalancerPoliciesOfListener"],
                spec.cluster_name,
            ),
        },
    )

    result = ensure_nlb_permissions.fn(spec)

    assert result.changed
    assert result.summary.startswith("added 2 actions to masters.nlb-demo.k8s.local")


def test_actions_granted_by_an_earlier_run_are_kept(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["iam"]
    queue_role_and_simulation(stub, spec, results(ModifyListener="implicitDeny"))
    stub.add_response(
        "get_role_policy",
        {
            "RoleName": spec.control_plane_role,
            "PolicyName": NLB_POLICY_NAME,
            "PolicyDocument": nlb_policy_document(["ec2:DescribeVpcs"], spec.cluster_name),
        },
    )
    stub.add_response(
        "put_role_policy",
        {},
        {
            "RoleName": spec.control_plane_role,
            "PolicyName": NLB_POLICY_NAME,
            "PolicyDocument": nlb_policy_document(
                ["ec2:DescribeVpcs", "elasticloadbalancing:ModifyListener"], spec.cluster_name
            ),
        },
    )

    assert ensure_nlb_permissions.fn(spec).summary.startswith("added 1 actions")


def test_explicit_deny_fails_without_writing(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    queue_role_and_simulation(aws_stubs["iam"], spec, results(AddTags="explicitDeny"))

    with pytest.raises(ConflictError, match="explicitly denied elasticloadbalancing:AddTags"):
        ensure_nlb_permissions.fn(spec)


def test_missing_role_means_no_cluster_yet(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    aws_stubs["iam"].add_client_error("get_role", "NoSuchEntity", "The role cannot be found", 404)

    with pytest.raises(
        KopsNlbError, match=r"masters\.nlb-demo\.k8s\.local does not exist.*not been created"
    ):
        ensure_nlb_permissions.fn(spec)


# ---- moto (teardown) --------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_remove_deletes_only_our_policy_once(
    spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    iam = boto("iam")
    role = spec.control_plane_role
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    iam.put_role_policy(
        RoleName=role,
        PolicyName=role,
        PolicyDocument=nlb_policy_document(["a:B"], spec.cluster_name),
    )
    iam.put_role_policy(
        RoleName=role,
        PolicyName=NLB_POLICY_NAME,
        PolicyDocument=nlb_policy_document(["a:B"], spec.cluster_name),
    )

    first = remove_nlb_permissions.fn(spec)
    second = remove_nlb_permissions.fn(spec)

    assert (first.changed, second.changed) == (True, False)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [role]


@pytest.mark.usefixtures("aws")
def test_remove_without_role_is_unchanged(spec: EnvironmentSpec) -> None:
    assert not remove_nlb_permissions.fn(spec).changed


# ---- the local twin (SimulatePrincipalPolicy evaluated over the role's real policies) -------


def kops_like_masters_policy(cluster: str, *, with_describes: bool = True) -> str:
    """The NLB-relevant part of the policy kops 1.36 writes: reads open, writes cluster-tagged."""
    reads = [a for a in NLB_ACTIONS if ":Describe" in a]
    creates = ["elasticloadbalancing:CreateListener", "elasticloadbalancing:CreateTargetGroup"]
    tagged = [a for a in NLB_ACTIONS if a not in reads and a not in creates]
    statements = [
        {
            "Effect": "Allow",
            "Action": tagged,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/KubernetesCluster": cluster}},
        },
        {
            "Effect": "Allow",
            "Action": creates,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/KubernetesCluster": cluster}},
        },
    ]
    if with_describes:
        statements.append({"Effect": "Allow", "Action": reads, "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def create_masters_role(spec: EnvironmentSpec, boto: Callable[[str], Any], policy: str) -> Any:
    iam = boto("iam")
    role = spec.control_plane_role
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=json.dumps(
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
        ),
    )
    iam.put_role_policy(RoleName=role, PolicyName=role, PolicyDocument=policy)
    return iam


@pytest.mark.usefixtures("aws_twin")
def test_twin_kops_policy_needs_nothing(spec: EnvironmentSpec, boto: Callable[[str], Any]) -> None:
    iam = create_masters_role(spec, boto, kops_like_masters_policy(spec.cluster_name))

    result = ensure_nlb_permissions.fn(spec)

    assert (result.changed, result.summary) == (
        False,
        "all 14 NLB actions already granted to masters.nlb-demo.k8s.local (by kops)",
    )
    assert iam.list_role_policies(RoleName=spec.control_plane_role)["PolicyNames"] == [
        spec.control_plane_role
    ]


@pytest.mark.usefixtures("aws_twin")
def test_twin_tags_of_another_cluster_do_not_count(
    spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    create_masters_role(spec, boto, kops_like_masters_policy("other.k8s.local"))

    assert ensure_nlb_permissions.fn(spec).summary.startswith("added 9 actions")


@pytest.mark.usefixtures("aws_twin")
def test_twin_missing_reads_are_added_once(
    spec: EnvironmentSpec, boto: Callable[[str], Any]
) -> None:
    iam = create_masters_role(
        spec, boto, kops_like_masters_policy(spec.cluster_name, with_describes=False)
    )

    first = ensure_nlb_permissions.fn(spec)
    second = ensure_nlb_permissions.fn(spec)

    assert first.summary.startswith("added 5 actions")
    assert (second.changed, second.summary) == (
        False,
        (
            "all 14 NLB actions already granted to masters.nlb-demo.k8s.local "
            f"(5 of them by {NLB_POLICY_NAME} of an earlier run)"
        ),
    )
    document = iam.get_role_policy(RoleName=spec.control_plane_role, PolicyName=NLB_POLICY_NAME)
    assert policy_actions(document["PolicyDocument"]) == {
        a for a in NLB_ACTIONS if ":Describe" in a
    }
