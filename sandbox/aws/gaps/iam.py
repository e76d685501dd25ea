"""IAM gaps 14-15: a few AWS managed policies always loaded, and SimulatePrincipalPolicy."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, cast

from moto.core.responses import ActionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, ManagedPolicy, Role
from moto.iam.responses import IamResponse
from moto.settings import load_iam_aws_managed_policies

from sandbox.aws import policy_simulation
from sandbox.aws.exceptions import (
    InvalidInput,
    NoSuchEntity,
)
from sandbox.aws.gaps.patching import add_method, wrap

AWS_MANAGED_POLICIES = (
    "AmazonSSMManagedInstanceCore",
    "AmazonSSMManagedEC2InstanceDefaultPolicy",
    "AmazonEC2ReadOnlyAccess",
    "AmazonS3ReadOnlyAccess",
    "ElasticLoadBalancingReadOnly",
    "AdministratorAccess",
)


@functools.cache
def _managed_policy_data(name: str) -> dict[str, Any]:
    """Return one AWS managed policy from moto's bundled data, without parsing all 1,500+."""
    marker = json.dumps(name) + ":"
    start = aws_managed_policies_data.find(marker)
    if start < 0:
        raise RuntimeError(f"moto's managed policy data lacks {name}")
    body_at = aws_managed_policies_data.index("{", start + len(marker))
    data, _ = json.JSONDecoder().raw_decode(aws_managed_policies_data, body_at)
    return cast(dict[str, Any], data)


def _patched_init_aws_policies(original: Callable[..., Any]) -> Callable[..., Any]:
    def _init_aws_policies(self: IAMBackend) -> list[ManagedPolicy]:
        if load_iam_aws_managed_policies():
            return cast(list[ManagedPolicy], original(self))
        return [
            AWSManagedPolicy.from_data(
                name, self.account_id, self.region_name, _managed_policy_data(name)
            )
            for name in AWS_MANAGED_POLICIES
        ]

    return _init_aws_policies


def _default_document(policy: ManagedPolicy) -> str:
    for version in policy.versions:
        if version.is_default:
            return version.document
    return policy.versions[-1].document


def _role_policies(role: Role) -> list[policy_simulation.SourcePolicy]:
    sources = [
        policy_simulation.SourcePolicy(name, "role", policy_simulation.parse_document(document))
        for name, document in role.policies.items()
    ]
    for arn, policy in role.managed_policies.items():
        kind = "aws-managed" if ":iam::aws:policy/" in arn else "user-managed"
        sources.append(
            policy_simulation.SourcePolicy(
                policy.name, kind, policy_simulation.parse_document(_default_document(policy))
            )
        )
    return sources


def simulate_principal_policy(
    backend: IAMBackend,
    *,
    policy_source_arn: str,
    action_names: list[str],
    resource_arns: list[str],
    policy_input_list: list[str],
    context_entries: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Return the EvaluationResults of SimulatePrincipalPolicy for a role (gap 15)."""
    if ":role/" not in policy_source_arn:
        raise InvalidInput(f"The twin simulates roles only, not {policy_source_arn}")
    role = next((r for r in backend.roles.values() if r.arn == policy_source_arn), None)
    if role is None:
        name = policy_source_arn.rsplit("/", 1)[-1]
        raise NoSuchEntity(name)
    sources = _role_policies(role)
    sources += [
        policy_simulation.SourcePolicy(
            f"PolicyInputList.{n}", "none", policy_simulation.parse_document(document)
        )
        for n, document in enumerate(policy_input_list, start=1)
    ]
    context = {
        entry["ContextKeyName"]: [str(v) for v in entry.get("ContextKeyValues", [])]
        for entry in context_entries
    }
    evaluations = policy_simulation.evaluate(
        policies=sources, actions=action_names, resources=resource_arns or ["*"], context=context
    )
    results = []
    for ev in evaluations:
        matched = [
            {"SourcePolicyId": m.policy_id, "SourcePolicyType": m.policy_type} for m in ev.matched
        ]
        result: dict[str, Any] = {
            "EvalActionName": ev.action,
            "EvalResourceName": ev.resource,
            "EvalDecision": ev.decision,
            "MatchedStatements": matched,
            "MissingContextValues": list(ev.missing_context),
        }
        if ev.resource != "*":
            result["ResourceSpecificResults"] = [
                {
                    "EvalResourceName": ev.resource,
                    "EvalResourceDecision": ev.decision,
                    "MatchedStatements": matched,
                    "MissingContextValues": list(ev.missing_context),
                }
            ]
        results.append(result)
    return results


def _response_simulate_principal_policy(self: IamResponse) -> ActionResult:
    results = simulate_principal_policy(
        self.backend,
        policy_source_arn=self._get_param("PolicySourceArn"),
        action_names=self._get_param("ActionNames", []) or [],
        resource_arns=self._get_param("ResourceArns", []) or [],
        policy_input_list=self._get_param("PolicyInputList", []) or [],
        context_entries=self._get_param("ContextEntries", []) or [],
    )
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def apply() -> None:
    """Install the IAM patches."""
    wrap(IAMBackend, "_init_aws_policies", _patched_init_aws_policies)
    add_method(IamResponse, "simulate_principal_policy", _response_simulate_principal_policy)
