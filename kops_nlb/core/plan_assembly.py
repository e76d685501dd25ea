"""The plan put together: items in the order provision takes them, or all blocked when a
precondition fails (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kops_nlb.core.naming import bastion_role_name, bastion_security_group_name, project_tags
from kops_nlb.core.plan import Plan, PlanItem, Precondition, block_all
from kops_nlb.core.plan_aws import (
    BucketFacts,
    RoleFacts,
    decide_bastion_instance,
    decide_bastion_role,
    decide_security_group,
    decide_state_store,
)
from kops_nlb.core.plan_cluster import decide_cluster
from kops_nlb.core.plan_cost import estimate_cost
from kops_nlb.core.plan_kube import decide_deployment, decide_namespace, decide_service, nlb_item
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.state_store import COMPONENT

# The order of `provision`'s steps, as its result lists them, and the NLB it waits for.
STEP_ORDER = (
    "state-store",
    "cluster",
    "nlb-permissions",
    "bastion-role",
    "bastion-security-group",
    "bastion-instance",
    "namespace",
    "nginx",
    "service",
    "nlb",
)


def in_apply_order(items: Iterable[PlanItem]) -> tuple[PlanItem, ...]:
    """Return the items sorted into the order provision takes them."""
    rank = {step: n for n, step in enumerate(STEP_ORDER)}
    return tuple(sorted(items, key=lambda i: rank.get(i.step, len(rank))))


def assemble_plan(
    spec: EnvironmentSpec,
    *,
    preconditions: Iterable[Precondition],
    items: Iterable[PlanItem],
    price_overrides: Mapping[str, float] | None = None,
) -> Plan:
    """Return the plan of described and decided items, with the cost estimate."""
    return Plan(
        cluster_name=spec.cluster_name,
        region=spec.region,
        preconditions=tuple(preconditions),
        items=in_apply_order(items),
        cost=estimate_cost(spec, price_overrides),
    )


def empty_world_items(spec: EnvironmentSpec, bucket: str) -> tuple[PlanItem, ...]:
    """Return every step's item as if nothing existed yet (the decisions on absent facts)."""
    vpc = "the VPC kops creates for the cluster"
    return (
        decide_state_store(
            bucket,
            BucketFacts(exists=False),
            cluster=spec.cluster_name,
            wanted_tags=project_tags(spec, COMPONENT),
        ).item,
        decide_cluster(spec, exists=False).item,
        PlanItem(
            step="nlb-permissions",
            resource=f"NLB permissions of IAM role {spec.control_plane_role}",
            status="will create",
        ),
        decide_bastion_role(bastion_role_name(spec), RoleFacts()).item,
        decide_security_group(bastion_security_group_name(spec), vpc, None).item,
        decide_bastion_instance(
            None, instance_type=spec.bastion_instance_type, placement=f"a utility subnet of {vpc}"
        ).item,
        decide_namespace(spec, exists=False).item,
        decide_deployment(spec, None).item,
        decide_service(spec, None).item,
        *(
            [decide_service(spec.negative_control_spec(), None).item]
            if spec.negative_control
            else []
        ),
        nlb_item(spec, name=None, dns_name=None),
    )


def blocked_plan(
    spec: EnvironmentSpec,
    *,
    bucket: str,
    preconditions: Iterable[Precondition],
    price_overrides: Mapping[str, float] | None = None,
) -> Plan:
    """Return the plan when a precondition fails: provision would stop before writing, so every
    item is blocked by the failures (nothing further was described)."""
    checks = tuple(preconditions)
    reason = "; ".join(f"{p.name}: {p.detail}" for p in checks if not p.ok)
    return assemble_plan(
        spec,
        preconditions=checks,
        items=block_all(empty_world_items(spec, bucket), f"preflight fails ({reason})"),
        price_overrides=price_overrides,
    )
