"""IAM: the bastion's role and instance profile, and the control-plane role's NLB policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from kops_nlb.aws.client import aws_client, dict_to_tags, paginate
from kops_nlb.aws.errors import aws_failure
from kops_nlb.core.bastion import EC2_TRUST_POLICY, trusts_ec2
from kops_nlb.core.errors import ConflictError, KopsNlbError, aws_error_code
from kops_nlb.core.naming import NLB_POLICY_NAME, SSM_MANAGED_POLICY_ARN
from kops_nlb.core.permissions import NLB_ACTIONS, nlb_policy_document, policy_actions

# ---- the bastion's role and instance profile -------------------------------------------------


def ensure_role(
    region: str, name: str, *, tags: Mapping[str, str], description: str
) -> tuple[str, list[str], bool]:
    """Ensure a role EC2 may assume, with the SSM managed policy; return (arn, done, created)."""
    iam = aws_client("iam", region)
    done: list[str] = []
    created = False
    try:
        try:
            role = iam.get_role(RoleName=name)["Role"]
            if not trusts_ec2(role.get("AssumeRolePolicyDocument")):
                iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(EC2_TRUST_POLICY)
                )
                done.append("trust policy set to EC2")
        except ClientError as e:
            if aws_error_code(e) != "NoSuchEntity":
                raise
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(EC2_TRUST_POLICY),
                Description=description,
                Tags=dict_to_tags(dict(tags)),
            )["Role"]
            done.append("role created")
            created = True
        attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        if SSM_MANAGED_POLICY_ARN not in {p["PolicyArn"] for p in attached}:
            iam.attach_role_policy(RoleName=name, PolicyArn=SSM_MANAGED_POLICY_ARN)
            done.append("AmazonSSMManagedInstanceCore attached")
    except ClientError as e:
        raise aws_failure(f"create or update IAM role {name}", e) from e
    return str(role["Arn"]), done, created


def ensure_instance_profile(
    region: str, name: str, *, tags: Mapping[str, str]
) -> tuple[str, list[str], bool]:
    """Ensure an instance profile holding the role of the same name; return (arn, done, created)."""
    iam = aws_client("iam", region)
    done: list[str] = []
    created = False
    try:
        try:
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ClientError as e:
            if aws_error_code(e) != "NoSuchEntity":
                raise
            profile = iam.create_instance_profile(
                InstanceProfileName=name, Tags=dict_to_tags(dict(tags))
            )["InstanceProfile"]
            done.append("instance profile created")
            created = True
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        if roles and name not in roles:
            raise ConflictError(
                f"instance profile {name} holds role {roles[0]}, not {name}; remove it by hand"
            )
        if not roles:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
            done.append("role added to instance profile")
    except ClientError as e:
        raise aws_failure(f"create or update instance profile {name}", e) from e
    return str(profile["Arn"]), done, created


def get_or_none(call: Callable[..., Any], key: str, **kwargs: Any) -> Mapping[str, Any] | None:
    """Return ``call(**kwargs)[key]``, or None when IAM answers NoSuchEntity."""
    try:
        return call(**kwargs)[key]
    except ClientError as e:
        if aws_error_code(e) == "NoSuchEntity":
            return None
        raise


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
