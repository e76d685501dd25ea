"""IAM: the bastion's role and instance profile, and the control-plane role's NLB policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, dict_to_tags, paginate
from kops_nlb.aws.errors import aws_failure, item_or_none
from kops_nlb.core.bastion import EC2_TRUST_POLICY
from kops_nlb.core.errors import KopsNlbError, aws_error_code
from kops_nlb.core.naming import NLB_POLICY_NAME, SSM_MANAGED_POLICY_ARN
from kops_nlb.core.permissions import NLB_ACTIONS, nlb_policy_document, policy_actions
from kops_nlb.core.plan_aws import RoleFacts

# ---- the bastion's role and instance profile -------------------------------------------------


def bastion_role_facts(region: str, name: str) -> RoleFacts:
    """Return the role and instance profile of that name as they are (absent parts as None)."""
    iam = aws_client("iam", region)
    try:
        role = get_or_none(iam.get_role, "Role", RoleName=name)
        attached = (
            paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
            if role is not None
            else []
        )
        profile = get_or_none(iam.get_instance_profile, "InstanceProfile", InstanceProfileName=name)
    except ClientError as e:
        raise aws_failure(f"read IAM role and instance profile {name}", e) from e
    return RoleFacts(
        role_arn=None if role is None else str(role["Arn"]),
        trust_policy=None if role is None else role.get("AssumeRolePolicyDocument"),
        attached_policies=tuple(p["PolicyArn"] for p in attached),
        profile_arn=None if profile is None else str(profile["Arn"]),
        profile_roles=tuple(r["RoleName"] for r in (profile or {}).get("Roles", [])),
    )


def create_role(region: str, name: str, *, tags: Mapping[str, str], description: str) -> str:
    """Create a role EC2 may assume; return its ARN."""
    try:
        role = aws_client("iam", region).create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY),
            Description=description,
            Tags=dict_to_tags(dict(tags)),
        )["Role"]
    except ClientError as e:
        raise aws_failure(f"create IAM role {name}", e) from e
    return str(role["Arn"])


def trust_ec2(region: str, name: str) -> None:
    """Replace the role's trust policy with one that lets EC2 assume it."""
    try:
        aws_client("iam", region).update_assume_role_policy(
            RoleName=name, PolicyDocument=json.dumps(EC2_TRUST_POLICY)
        )
    except ClientError as e:
        raise aws_failure(f"set the trust policy of IAM role {name}", e) from e


def attach_ssm_policy(region: str, name: str) -> None:
    """Attach the SSM managed policy to the role."""
    try:
        aws_client("iam", region).attach_role_policy(
            RoleName=name, PolicyArn=SSM_MANAGED_POLICY_ARN
        )
    except ClientError as e:
        raise aws_failure(f"attach AmazonSSMManagedInstanceCore to IAM role {name}", e) from e


def create_instance_profile(region: str, name: str, *, tags: Mapping[str, str]) -> str:
    """Create an instance profile; return its ARN."""
    try:
        profile = aws_client("iam", region).create_instance_profile(
            InstanceProfileName=name, Tags=dict_to_tags(dict(tags))
        )["InstanceProfile"]
    except ClientError as e:
        raise aws_failure(f"create instance profile {name}", e) from e
    return str(profile["Arn"])


def add_role_to_profile(region: str, name: str) -> None:
    """Put the role of the same name into the instance profile."""
    try:
        aws_client("iam", region).add_role_to_instance_profile(
            InstanceProfileName=name, RoleName=name
        )
    except ClientError as e:
        raise aws_failure(f"add role {name} to instance profile {name}", e) from e


def get_or_none(call: Callable[..., Any], key: str, **kwargs: Any) -> Mapping[str, Any] | None:
    """Return ``call(**kwargs)[key]``, or None when IAM answers NoSuchEntity."""
    found: Mapping[str, Any] | None = item_or_none(call, key, missing="NoSuchEntity", **kwargs)
    return found


def delete_role(iam: Any, name: str) -> None:
    """Delete a role after detaching, deleting and unlinking whatever holds on to it."""
    for policy in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for profile in paginate(
        iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name
    ):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name
        )
    iam.delete_role(RoleName=name)


def delete_profile(iam: Any, name: str, roles: Iterable[str]) -> None:
    """Delete an instance profile after removing its roles."""
    for role in roles:
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=name)


# ---- the control-plane role's NLB permissions ------------------------------------------------


def control_plane_role_arn(region: str, role: str) -> str:
    """Return the ARN of kops's control-plane role; a clear error when kops has not made it."""
    try:
        return str(aws_client("iam", region).get_role(RoleName=role)["Role"]["Arn"])
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            raise KopsNlbError(
                f"IAM role {role} does not exist: the cluster has not been created yet "
                "(kops update cluster --yes creates it)"
            ) from e
        raise aws_failure(f"read IAM role {role}", e) from e


def control_plane_role_arn_or_none(region: str, role: str) -> str | None:
    """Return the ARN of kops's control-plane role, or None when kops has not made it."""
    try:
        found = get_or_none(aws_client("iam", region).get_role, "Role", RoleName=role)
    except ClientError as e:
        raise aws_failure(f"read IAM role {role}", e) from e
    return None if found is None else str(found["Arn"])


def simulate_nlb_actions(
    region: str, role: str, role_arn: str, context: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return SimulatePrincipalPolicy's evaluation of the NLB actions for the role."""
    try:
        return paginate(
            aws_client("iam", region),
            "simulate_principal_policy",
            "EvaluationResults",
            PolicySourceArn=role_arn,
            ActionNames=list(NLB_ACTIONS),
            ContextEntries=context,
        )
    except ClientError as e:
        raise aws_failure(f"simulate the NLB actions for role {role}", e) from e


def nlb_policy_actions(region: str, role: str) -> set[str]:
    """Return the actions the project's inline NLB policy on the role allows (none if absent)."""
    try:
        document = aws_client("iam", region).get_role_policy(
            RoleName=role, PolicyName=NLB_POLICY_NAME
        )["PolicyDocument"]
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return set()
        raise aws_failure(f"read inline policy {NLB_POLICY_NAME} of role {role}", e) from e
    return policy_actions(document)


def put_nlb_policy(region: str, role: str, actions: Iterable[str], cluster_name: str) -> None:
    """Write the project's inline NLB policy allowing `actions` on the role."""
    try:
        aws_client("iam", region).put_role_policy(
            RoleName=role,
            PolicyName=NLB_POLICY_NAME,
            PolicyDocument=nlb_policy_document(actions, cluster_name),
        )
    except ClientError as e:
        raise aws_failure(f"put inline policy {NLB_POLICY_NAME} on role {role}", e) from e


def delete_nlb_policy(region: str, role: str) -> bool:
    """Delete the project's inline NLB policy from the role; False when there was none."""
    try:
        aws_client("iam", region).delete_role_policy(RoleName=role, PolicyName=NLB_POLICY_NAME)
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return False
        raise aws_failure(f"delete inline policy {NLB_POLICY_NAME} of role {role}", e) from e
    return True
