"""`teardown`: remove everything `provision` made, in dependency order, and prove it is gone.

The Service goes first so the cloud controller deletes its NLB and target groups (kops cannot
see them as its own state); then nginx, the bastion, the NLB permissions the project added,
the cluster, and a sweep by the cluster's tags for anything left behind.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.states import State
from pydantic import BaseModel, ConfigDict

from flows.approval import APPROVAL_TIMEOUT_S, wait_for_answer
from kops_nlb.core.errors import SpecError
from kops_nlb.core.reports.steps import artifact_key, teardown_report
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import delete_bastion
from tasks.cluster import cluster_exists, delete_cluster, export_kubeconfig
from tasks.permissions import remove_nlb_permissions
from tasks.preflight import caller_account
from tasks.state_store import delete_state_store, state_store_exists
from tasks.sweep import inventory, sweep_cluster_resources
from tasks.workload import delete_workload, wait_for_service_gone


class TeardownApproval(RunInput):
    """What a person answers in the UI before anything is deleted."""

    approve: bool = False


class TeardownResult(BaseModel):
    """What teardown deleted, found already gone, and left."""

    model_config = ConfigDict(frozen=True)

    cluster_name: str
    approved: bool
    steps: list[StepResult]
    remaining: dict[str, list[str]]


def check_confirmation(spec: EnvironmentSpec, confirm_cluster_name: str) -> None:
    """Refuse unless the run names the cluster it destroys."""
    if confirm_cluster_name != spec.cluster_name:
        raise SpecError(
            f"confirm_cluster_name {confirm_cluster_name!r} does not match the cluster "
            f"{spec.cluster_name!r}; nothing was deleted"
        )


def _delete_workload_best_effort(spec: EnvironmentSpec, state_store: str) -> list[StepResult]:
    """Delete the Service (and so its NLB) and nginx; an unreachable cluster API does not stop
    teardown, since kops and the tag sweep find the NLB by its tags anyway."""
    state: State[Any] = export_kubeconfig(spec, state_store, return_state=True)
    if state.is_completed():
        kubeconfig = state.result()
        deleted = state = delete_workload(spec, kubeconfig, return_state=True)
        if state.is_completed():
            state = wait_for_service_gone(spec, kubeconfig, return_state=True)
            if state.is_completed():
                return list(deleted.result())
    reason = f"the cluster's API did not let the Service be deleted ({state.message})"
    get_run_logger().warning("%s; the sweep looks for its load balancer by tags", reason)
    return [
        StepResult(
            step="workload", changed=False, left=True, summary=f"left: Service and nginx: {reason}"
        )
    ]


@flow(name="teardown")
def teardown(
    spec: EnvironmentSpec,
    confirm_cluster_name: str,
    require_approval: bool = True,
    delete_state_bucket: bool = False,
) -> TeardownResult:
    """Delete the environment of `spec`; idempotent, and guarded by name and approval."""
    logger = get_run_logger()
    check_confirmation(spec, confirm_cluster_name)
    account = caller_account(spec.region)
    state_store = f"s3://{spec.bucket_for(account)}"
    before = inventory(spec)
    if require_approval:
        logger.info("waiting for approval in the UI to delete %s", spec.cluster_name)
        answer = wait_for_answer(
            TeardownApproval.with_initial_data(
                description=f"Delete `{spec.cluster_name}` and everything tagged for it?"
            ),
            timeout_s=APPROVAL_TIMEOUT_S,
        )
        if not answer.approve:
            logger.info("not approved: nothing deleted")
            return TeardownResult(
                cluster_name=spec.cluster_name, approved=False, steps=[], remaining=before
            )

    steps: list[StepResult] = []
    has_state = state_store_exists(spec, account)
    known_to_kops = has_state and cluster_exists(spec, state_store)
    if known_to_kops:
        steps += _delete_workload_best_effort(spec, state_store)
    steps += delete_bastion(spec)
    steps.append(remove_nlb_permissions(spec))
    if known_to_kops:
        steps.append(delete_cluster(spec, state_store))
    steps += sweep_cluster_resources(spec)
    if delete_state_bucket and has_state:
        steps.append(delete_state_store(spec, account))
    remaining = inventory(spec)
    create_markdown_artifact(
        key=artifact_key("teardown", spec.cluster_name),
        markdown=teardown_report(cluster_name=spec.cluster_name, steps=steps, remaining=remaining),
        description=f"Teardown of {spec.cluster_name}",
    )
    deleted = sum(1 for s in steps if s.changed)
    logger.info(
        "%s: %s", spec.cluster_name, f"deleted {deleted} things" if deleted else "nothing to delete"
    )
    return TeardownResult(
        cluster_name=spec.cluster_name, approved=True, steps=steps, remaining=remaining
    )
