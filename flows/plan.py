"""`plan`: what `provision` would do, resource by resource, without writing anything.

Every step is described through its adapter and decided by the same pure function `provision`
acts on (`kops_nlb.core.plan_*`); none acts. The result is the `plan-<cluster>` artifact:
each resource `exists`, `will create`, `will change` (with the field-level diff) or `blocked`
(with the reason), in the order provision takes them, kops's own preview, and a rough cost.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from kops_nlb.core.plan import Plan
from kops_nlb.core.plan_assembly import assemble_plan, blocked_plan
from kops_nlb.core.reports.plan import plan_report
from kops_nlb.core.reports.steps import artifact_key
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import plan_bastion, plan_bastion_role
from tasks.cluster import plan_cluster
from tasks.network import find_cluster_network
from tasks.nlb import plan_nlb
from tasks.permissions import plan_nlb_permissions
from tasks.preflight import caller_account, plan_preconditions
from tasks.state_store import plan_state_store
from tasks.workload import plan_workload


@flow(name="plan", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False)
def plan(
    spec: EnvironmentSpec = EnvironmentSpec(),  # noqa: B008
    price_overrides: dict[str, float] | None = None,
) -> Plan:
    """Describe and decide every step of `provision` for `spec`, act on none; publish the plan.

    `price_overrides` replaces or adds hourly prices (USD) of the cost estimate: an instance
    type, `nlb` or `nat-gateway`.
    """
    account = caller_account(spec.region)
    bucket = spec.bucket_for(account)
    state_store = f"s3://{bucket}"
    checks = plan_preconditions(spec)
    if not all(check.ok for check in checks):
        result = blocked_plan(
            spec, bucket=bucket, preconditions=checks, price_overrides=price_overrides
        )
        return _publish(spec, result)

    role = plan_bastion_role.submit(spec)
    store = plan_state_store(spec, account)
    cluster = plan_cluster(spec, state_store, store_exists=store.status != "will create")
    known = cluster.status == "exists"
    permissions = plan_nlb_permissions.submit(spec, cluster_exists=known)
    network = find_cluster_network(spec) if known else None
    bastion = plan_bastion.submit(spec, network, cluster_exists=known)
    workload, service = plan_workload(spec, state_store, cluster_exists=known)
    nlb = plan_nlb(spec, service)

    items = [store, cluster, permissions.result(), role.result(), *bastion.result(), *workload, nlb]
    result = assemble_plan(spec, preconditions=checks, items=items, price_overrides=price_overrides)
    return _publish(spec, result)


def _publish(spec: EnvironmentSpec, result: Plan) -> Plan:
    """Publish the plan as the `plan-<cluster>` artifact and log its headline."""
    create_markdown_artifact(
        key=artifact_key("plan", spec.cluster_name),
        markdown=plan_report(result),
        description=f"What provision would do to {spec.cluster_name}",
    )
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items() if n)
    get_run_logger().info(
        "plan for %s: %s", spec.cluster_name, "nothing to do" if result.nothing_to_do else counts
    )
    return result


if __name__ == "__main__":
    plan()
