"""Decisions of the AWS steps: state store, bastion role, security group and instance, NLB
permissions (pure).

Each ``decide_*`` takes what a task described and returns what apply does, with the plan's
``PlanItem``; the task acts on exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.bastion import trusts_ec2
from kops_nlb.core.naming import (
    NLB_POLICY_NAME,
    PROJECT,
    SSM_MANAGED_POLICY_ARN,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
)
from kops_nlb.core.permissions import (
    NLB_ACTIONS,
    explicitly_denied,
    granted_by_policy,
    missing_actions,
)
from kops_nlb.core.plan import FieldChange, PlanItem, Status, change, status_of, tag_changes
from kops_nlb.core.state_store import (
    PUBLIC_ACCESS_FLAGS,
    has_default_encryption,
    public_access_fully_blocked,
    versioning_enabled,
)

# ---- state store ------------------------------------------------------------------------


class BucketFacts(BaseModel):
    """The state-store bucket as described: absent, or its tags and three settings."""

    model_config = ConfigDict(frozen=True)

    exists: bool
    tags: dict[str, str] = {}
    versioning: str | None = None  # GetBucketVersioning's Status: Enabled, Suspended or none
    public_access: dict[str, bool] | None = None
    encryption: dict[str, Any] | None = None


class StateStoreDecision(BaseModel):
    """What apply does to the state-store bucket."""

    model_config = ConfigDict(frozen=True)

    create: bool
    put_tags: dict[str, str] | None = None  # the whole tag set to write, when tags drifted
    restored_tags: tuple[str, ...] = ()  # the keys that set brings back or corrects
    enable_versioning: bool = False
    block_public_access: bool = False
    set_encryption: bool = False
    item: PlanItem


def is_projects_bucket(tags: Mapping[str, str], cluster: str) -> bool:
    """Tell whether the project made this bucket for this cluster (its two marks are there)."""
    return tags.get(TAG_MANAGED_BY) == PROJECT and tags.get(TAG_CLUSTER) == cluster


def decide_state_store(
    bucket: str, facts: BucketFacts, *, cluster: str, wanted_tags: Mapping[str, str]
) -> StateStoreDecision:
    """Decide the bucket: create it, or set what is missing of versioning, public access block,
    default encryption, and (on the project's own bucket only) its tags.

    A bucket that is not the project's (a user's, named in the spec) keeps its tags.
    """
    resource = f"S3 bucket {bucket} (kops state store)"
    if not facts.exists:
        item = PlanItem(
            step="state-store",
            resource=resource,
            status="will create",
            changes=(
                *tag_changes({}, wanted_tags),
                change("versioning", None, "Enabled"),
                change("public access block", None, "all four flags"),
                change("default encryption", None, "SSE-S3 (AES256)"),
            ),
        )
        return StateStoreDecision(
            create=True,
            enable_versioning=True,
            block_public_access=True,
            set_encryption=True,
            item=item,
        )
    changes: list[FieldChange] = []
    notes: list[str] = []
    put_tags = None
    restored: tuple[str, ...] = ()
    if is_projects_bucket(facts.tags, cluster):
        tags = tag_changes(facts.tags, wanted_tags)
        if tags:
            changes += tags
            put_tags = {**facts.tags, **wanted_tags}
            restored = tuple(k for k, v in sorted(wanted_tags.items()) if facts.tags.get(k) != v)
    else:
        notes.append("not tagged by kops-nlb-flows for this cluster: its tags are left alone")
    versioning = not versioning_enabled({"Status": facts.versioning} if facts.versioning else {})
    if versioning:
        changes.append(change("versioning", facts.versioning or "never enabled", "Enabled"))
    public = not public_access_fully_blocked(facts.public_access)
    if public:
        off = [f for f in PUBLIC_ACCESS_FLAGS if not (facts.public_access or {}).get(f)]
        changes.append(change("public access block", f"off: {', '.join(off)}", "all four flags"))
    encryption = not has_default_encryption(facts.encryption)
    if encryption:
        changes.append(change("default encryption", None, "SSE-S3 (AES256)"))
    item = PlanItem(
        step="state-store",
        resource=resource,
        status=status_of(exists=True, changes=changes),
        changes=tuple(changes),
        notes=tuple(notes),
    )
    return StateStoreDecision(
        create=False,
        put_tags=put_tags,
        restored_tags=restored,
        enable_versioning=versioning,
        block_public_access=public,
        set_encryption=encryption,
        item=item,
    )


# ---- the bastion's role and instance profile ----------------------------------------------


class RoleFacts(BaseModel):
    """The bastion's role and instance profile as described (None: absent)."""

    model_config = ConfigDict(frozen=True)

    role_arn: str | None = None
    trust_policy: dict[str, Any] | str | None = None
    attached_policies: tuple[str, ...] = ()
    profile_arn: str | None = None
    profile_roles: tuple[str, ...] = ()


class RoleDecision(BaseModel):
    """What apply does to the bastion's role and instance profile."""

    model_config = ConfigDict(frozen=True)

    create_role: bool = False
    set_trust: bool = False
    attach_ssm: bool = False
    create_profile: bool = False
    add_role: bool = False
    conflict: str = ""  # apply refuses: the profile holds another role
    item: PlanItem


def decide_bastion_role(name: str, facts: RoleFacts) -> RoleDecision:
    """Decide the bastion's role (EC2 trust, SSM managed policy) and its instance profile."""
    resource = f"IAM role and instance profile {name}"
    create_role = facts.role_arn is None
    set_trust = not create_role and not trusts_ec2(facts.trust_policy)
    attach = SSM_MANAGED_POLICY_ARN not in facts.attached_policies
    create_profile = facts.profile_arn is None
    others = [r for r in facts.profile_roles if r != name]
    conflict = (
        f"instance profile {name} holds role {others[0]}, not {name}; remove it by hand"
        if others
        else ""
    )
    add_role = not conflict and name not in facts.profile_roles
    changes: list[FieldChange] = []
    if create_role:
        changes.append(change("role", None, f"{name}, trusted by ec2.amazonaws.com"))
    if set_trust:
        changes.append(change("trust policy", "does not trust EC2", "ec2.amazonaws.com"))
    if attach:
        changes.append(change("managed policy", None, "AmazonSSMManagedInstanceCore"))
    if create_profile:
        changes.append(change("instance profile", None, name))
    if add_role:
        changes.append(change("instance profile role", None, name))
    if conflict:
        item = PlanItem(step="bastion-role", resource=resource, status="blocked", reason=conflict)
    else:
        status: Status = "will create" if create_role and create_profile else "will change"
        item = PlanItem(
            step="bastion-role",
            resource=resource,
            status=status if changes else "exists",
            changes=tuple(changes),
        )
    return RoleDecision(
        create_role=create_role,
        set_trust=set_trust,
        attach_ssm=attach,
        create_profile=create_profile,
        add_role=add_role,
        conflict=conflict,
        item=item,
    )


# ---- the bastion's security group and instance ---------------------------------------------


class SecurityGroupDecision(BaseModel):
    """What apply does to the bastion's security group."""

    model_config = ConfigDict(frozen=True)

    create: bool
    group_id: str = ""
    revoke: tuple[dict[str, Any], ...] = ()
    item: PlanItem


def _rule_text(rule: Mapping[str, Any]) -> str:
    ports = f"{rule.get('FromPort', 'all')}-{rule.get('ToPort', 'all')}"
    sources = [r.get("CidrIp", "") for r in rule.get("IpRanges") or []]
    sources += [g.get("GroupId", "") for g in rule.get("UserIdGroupPairs") or []]
    return f"{rule.get('IpProtocol', '?')} {ports} from {', '.join(sources) or '?'}"


def decide_security_group(
    name: str, vpc: str, group: Mapping[str, Any] | None
) -> SecurityGroupDecision:
    """Decide the bastion's security group: create it, or revoke every inbound rule it has."""
    resource = f"security group {name} in {vpc}"
    if group is None:
        item = PlanItem(
            step="bastion-security-group",
            resource=resource,
            status="will create",
            changes=(change("inbound rules", None, "none"),),
        )
        return SecurityGroupDecision(create=True, item=item)
    inbound = tuple(group.get("IpPermissions") or [])
    changes = [change("inbound rule", _rule_text(rule), "revoked") for rule in inbound]
    item = PlanItem(
        step="bastion-security-group",
        resource=f"security group {name} ({group['GroupId']}) in {vpc}",
        status=status_of(exists=True, changes=changes),
        changes=tuple(changes),
    )
    return SecurityGroupDecision(
        create=False, group_id=str(group["GroupId"]), revoke=inbound, item=item
    )


InstanceAction = Literal["found", "start", "wait", "launch"]


class InstanceDecision(BaseModel):
    """What apply does about the bastion instance."""

    model_config = ConfigDict(frozen=True)

    action: InstanceAction
    instance_id: str = ""
    item: PlanItem


def decide_bastion_instance(
    existing: Mapping[str, Any] | None, *, instance_type: str, placement: str
) -> InstanceDecision:
    """Decide the bastion instance: use a live one (start it if stopped) or launch one."""
    if existing is None:
        item = PlanItem(
            step="bastion-instance",
            resource="bastion instance",
            status="will create",
            changes=(
                change("instance type", None, instance_type),
                change("image", None, "current Amazon Linux 2023 (x86_64)"),
                change("placement", None, placement),
            ),
        )
        return InstanceDecision(action="launch", item=item)
    instance_id, state = str(existing["InstanceId"]), str(existing["State"]["Name"])
    resource = f"bastion instance {instance_id}"
    if state == "stopped":
        action: InstanceAction = "start"
        item = PlanItem(
            step="bastion-instance",
            resource=resource,
            status="will change",
            changes=(change("state", state, "running"),),
        )
    elif state == "stopping":
        action = "wait"
        item = PlanItem(
            step="bastion-instance",
            resource=resource,
            status="will change",
            changes=(change("state", state, "running (started once stopped)"),),
        )
    else:
        action = "found"
        item = PlanItem(step="bastion-instance", resource=resource, status="exists", notes=(state,))
    return InstanceDecision(action=action, instance_id=instance_id, item=item)


# ---- the control-plane role's NLB permissions ---------------------------------------------


class PermissionsDecision(BaseModel):
    """What apply does about the control-plane role's NLB permissions."""

    model_config = ConfigDict(frozen=True)

    put_actions: tuple[str, ...] = ()  # the whole allow list to write, when some are missing
    had_policy: bool = False
    granted_by_ours: tuple[str, ...] = ()  # allowed through the project's policy of a past run
    denied: tuple[str, ...] = ()
    item: PlanItem


def decide_nlb_permissions(
    role: str, results: Sequence[Mapping[str, Any]], policy_actions: set[str]
) -> PermissionsDecision:
    """Decide the NLB permissions from the simulation: add only what is missing, keeping what
    an earlier run granted; an explicit deny blocks (an added Allow cannot override it)."""
    resource = f"NLB permissions of IAM role {role} (inline policy {NLB_POLICY_NAME})"
    denied = tuple(explicitly_denied(results))
    if denied:
        reason = (
            f"role {role} is explicitly denied {', '.join(denied)} (a Deny statement or a "
            "permissions boundary); an added Allow cannot override that"
        )
        item = PlanItem(step="nlb-permissions", resource=resource, status="blocked", reason=reason)
        return PermissionsDecision(denied=denied, item=item)
    missing = missing_actions(results)
    if not missing:
        item = PlanItem(
            step="nlb-permissions",
            resource=resource,
            status="exists",
            notes=(f"all {len(NLB_ACTIONS)} NLB actions allowed",),
        )
        return PermissionsDecision(
            had_policy=bool(policy_actions),
            granted_by_ours=tuple(granted_by_policy(results, NLB_POLICY_NAME)),
            item=item,
        )
    changes = tuple(change("policy statement Allow", None, action) for action in missing)
    item = PlanItem(
        step="nlb-permissions",
        resource=resource,
        status="will change" if policy_actions else "will create",
        changes=changes,
    )
    return PermissionsDecision(
        put_actions=tuple(sorted(policy_actions | set(missing))),
        had_policy=bool(policy_actions),
        item=item,
    )
