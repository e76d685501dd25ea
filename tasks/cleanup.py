"""Cleanup after a failed ``provision``: carry out the plan (``kops_nlb.core.cleanup``).

Each removal is tried on its own; what could not be removed is reported with the reason, never
raised, so the flow still fails with its original error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import iam, sts
from kops_nlb.aws.errors import error_reason
from kops_nlb.aws.removal import bastion as bastion_removal
from kops_nlb.aws.removal import sweep
from kops_nlb.aws.removal.state_store import remove_state_store
from kops_nlb.core.cleanup import (
    Action,
    CleanupPlan,
    Removal,
    RemovalOutcome,
    Result,
    cleanup_plan,
    skip_reason,
)
from kops_nlb.core.logs import Logger
from kops_nlb.core.naming import NLB_POLICY_NAME
from kops_nlb.core.reports.cleanup import cleanup_report
from kops_nlb.core.reports.steps import artifact_key
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.waiting import wait_until
from kops_nlb.kops import commands, worker
from kops_nlb.kube import workload as kube
from kops_nlb.kube.client import kube_api

Handler = Callable[
    [EnvironmentSpec, Removal, Sequence[RemovalOutcome], Logger], list[RemovalOutcome]
]


def _outcome(removal: Removal, result: Result, detail: str) -> list[RemovalOutcome]:
    return [
        RemovalOutcome(action=removal.action, target=removal.target, result=result, detail=detail)
    ]


def _delete_service(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    api = kube_api(str(worker.kubeconfig_file(spec.cluster_name)))
    namespace, name = removal.target.split("/", 1)
    if not kube.delete_service(api, namespace, name):
        return _outcome(removal, "gone", "service already gone")
    wait_until(
        lambda: kube.service_gone(api, namespace, name),
        what=f"service {removal.target} and its load balancer deleted",
        timeout=spec.timeouts.service_hostname,
        poll=spec.poll,
        logger=logger,
    )
    return _outcome(removal, "removed", "deleted; the cloud controller deleted its load balancer")


def _delete_deployment(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], _logger: Logger
) -> list[RemovalOutcome]:
    api = kube_api(str(worker.kubeconfig_file(spec.cluster_name)))
    if kube.delete_deployment(api, spec.namespace, spec.deployment_name):
        return _outcome(removal, "removed", "deleted")
    return _outcome(removal, "gone", "deployment already gone")


def _delete_namespace(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], _logger: Logger
) -> list[RemovalOutcome]:
    if kube.delete_namespace(
        kube_api(str(worker.kubeconfig_file(spec.cluster_name))), spec.namespace
    ):
        return _outcome(removal, "removed", "deleted")
    return _outcome(removal, "gone", "namespace already gone")


def _terminate_bastion(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    result, detail = bastion_removal.terminate_bastion_instance(spec, removal.target, logger)
    return _outcome(removal, result, detail)  # type: ignore[arg-type]


def _delete_bastion_security_group(
    spec: EnvironmentSpec, removal: Removal, earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    instance_stuck = any(o.action == "terminate-bastion" and o.result == "failed" for o in earlier)
    result, detail = bastion_removal.delete_bastion_security_group(
        spec, removal.target, retry_in_use=not instance_stuck, logger=logger
    )
    return _outcome(removal, result, detail)  # type: ignore[arg-type]


def _delete_bastion_instance_profile(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], _logger: Logger
) -> list[RemovalOutcome]:
    if bastion_removal.delete_instance_profile_named(spec.region, removal.target):
        return _outcome(removal, "removed", "deleted")
    return _outcome(removal, "gone", "instance profile already gone")


def _delete_bastion_role(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], _logger: Logger
) -> list[RemovalOutcome]:
    if bastion_removal.delete_role_named(spec.region, removal.target):
        return _outcome(removal, "removed", "deleted (its policies detached first)")
    return _outcome(removal, "gone", "role already gone")


def _remove_nlb_permissions(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], _logger: Logger
) -> list[RemovalOutcome]:
    role = spec.control_plane_role
    if iam.delete_nlb_policy(spec.region, role):
        return _outcome(removal, "removed", f"deleted inline policy {NLB_POLICY_NAME} from {role}")
    return _outcome(removal, "gone", f"no {NLB_POLICY_NAME} policy on {role} (or no such role)")


def _delete_cluster(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    if commands.delete_cluster(spec, removal.ids["state_store"], logger):
        return _outcome(removal, "removed", "kops cluster deleted")
    return _outcome(removal, "gone", "kops cluster absent")


def _sweep(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    results = sweep.sweep(spec, logger)
    outcomes = [
        RemovalOutcome(
            action=removal.action,
            target=r.ids.get("id", removal.target) if r.left else removal.target,
            result="failed" if r.left else "removed",
            detail=r.summary,
        )
        for r in results
        if r.changed or r.left
    ]
    return outcomes or _outcome(removal, "gone", "nothing left tagged for the cluster")


def _delete_state_store(
    spec: EnvironmentSpec, removal: Removal, _earlier: Sequence[RemovalOutcome], logger: Logger
) -> list[RemovalOutcome]:
    account = sts.caller_account_id(spec.region)
    if spec.bucket_for(account) != removal.target:
        return _outcome(
            removal, "failed", f"the spec now names bucket {spec.bucket_for(account)}, not this one"
        )
    result = remove_state_store(spec, account, logger=logger)
    if result.left:
        return _outcome(removal, "failed", result.summary)
    return _outcome(removal, "removed" if result.changed else "gone", result.summary)


HANDLERS: dict[Action, Handler] = {
    "delete-service": _delete_service,
    "delete-deployment": _delete_deployment,
    "delete-namespace": _delete_namespace,
    "terminate-bastion": _terminate_bastion,
    "delete-bastion-security-group": _delete_bastion_security_group,
    "delete-bastion-instance-profile": _delete_bastion_instance_profile,
    "delete-bastion-role": _delete_bastion_role,
    "remove-nlb-permissions": _remove_nlb_permissions,
    "delete-cluster": _delete_cluster,
    "sweep": _sweep,
    "delete-state-store": _delete_state_store,
}


def carry_out(spec: EnvironmentSpec, plan: CleanupPlan, logger: Logger) -> list[RemovalOutcome]:
    """Try every removal of the plan in order; return the outcomes (failures included)."""
    outcomes: list[RemovalOutcome] = []
    for removal in plan.removals:
        skip = skip_reason(removal, outcomes)
        if skip is not None:
            outcomes += _outcome(removal, "skipped", skip)
            continue
        try:
            outcomes += HANDLERS[removal.action](spec, removal, outcomes, logger)
        except Exception as exc:  # noqa: BLE001 - reported, the next removal is still tried
            outcomes += _outcome(removal, "failed", error_reason(exc))
    for o in outcomes:
        log = logger.info if o.result in {"removed", "gone"} else logger.warning
        log("cleanup %s %s: %s (%s)", o.action, o.target, o.result, o.detail)
    return outcomes


@task(cache_policy=NO_CACHE)
def clean_up_failed_provision(
    spec: EnvironmentSpec, steps: list[StepResult], error: str
) -> list[RemovalOutcome]:
    """Remove what a failed provision run created (see `cleanup_plan`) and report it.

    The report is the markdown artifact ``provision-cleanup-<cluster>``. Nothing is raised for
    what could not be removed: the outcomes and the artifact say what and why.
    """
    logger = get_run_logger()
    plan = cleanup_plan(spec, steps)
    logger.info(
        "cleanup of %s: removing %s; keeping %s",
        spec.cluster_name,
        ", ".join(f"{r.action} {r.target}" for r in plan.removals) or "nothing",
        ", ".join(k.step for k in plan.kept) or "nothing",
    )
    outcomes = carry_out(spec, plan, logger)
    create_markdown_artifact(
        key=artifact_key("provision-cleanup", spec.cluster_name),
        markdown=cleanup_report(
            cluster_name=spec.cluster_name, error=error, plan=plan, outcomes=outcomes
        ),
        description=f"What the failed provisioning of {spec.cluster_name} created and removed",
    )
    return outcomes
