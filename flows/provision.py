"""`provision`: from an empty account to a validated kops cluster, nginx behind an internal NLB,
and an SSM bastion to probe it from.

Independent branches run concurrently: the bastion and the NLB permission check start as soon as
kops has created the cluster's VPC and roles, while the cluster validates.

Each step that may create something is recorded in a `StepLedger`, so that after a failure
`cleanup_on_failure` can tell what this run made (`kops_nlb.core.cleanup`).
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.runtime import deployment, flow_run
from prefect.states import Cancelled, State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict

from flows.approval import APPROVAL_TIMEOUT_S, wait_for_answer
from flows.plan import plan
from kops_nlb.core.errors import failure_text
from kops_nlb.core.naming import bastion_client_token
from kops_nlb.core.reports.steps import artifact_key, provision_summary
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.workload import nginx_nodes, target_ids
from tasks._ledger import StepLedger
from tasks.bastion import (
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
    wait_for_bastion_online,
)
from tasks.cleanup import clean_up_failed_provision
from tasks.cluster import (
    check_kops_version,
    ensure_cluster,
    export_kubeconfig,
    wait_for_cluster_valid,
)
from tasks.network import cluster_network
from tasks.nlb import (
    wait_for_nlb_active,
    wait_for_target_group_settings,
    wait_for_targets_healthy,
)
from tasks.permissions import ensure_nlb_permissions
from tasks.preflight import caller_account, check_region_and_zones
from tasks.state_store import ensure_state_store
from tasks.workload import (
    ensure_canary_service,
    ensure_namespace,
    ensure_nginx,
    ensure_service,
    list_nodes,
    wait_for_nginx_ready,
    wait_for_service_hostname,
)


class ProvisionResult(BaseModel):
    """What `provision` built, with the ids a person or the next flow needs."""

    model_config = ConfigDict(frozen=True)

    cluster_name: str
    state_store: str
    bastion_instance_id: str
    bastion_private_ip: str
    nlb_arn: str
    nlb_dns_name: str
    service_uid: str
    nginx_nodes: list[str]
    steps: list[StepResult]

    @property
    def changed(self) -> bool:
        """Whether this run created or changed anything."""
        return any(step.changed for step in self.steps)


class ProvisionApproval(RunInput):
    """What a person answers in the UI after reading the plan, before anything is written."""

    approve: bool = False
    reason: str = ""


def _why_not_approved(spec: EnvironmentSpec) -> str | None:
    """Plan, then ask a person unless there is nothing to do; return why not approved, or None."""
    logger = get_run_logger()
    the_plan = plan(spec)
    if the_plan.nothing_to_do:
        logger.info("the plan has nothing to do: no approval needed")
        return None
    key = artifact_key("plan", spec.cluster_name)
    logger.info("waiting for approval in the UI (the plan is the %s artifact)", key)
    try:
        answer = wait_for_answer(
            ProvisionApproval.with_initial_data(
                description=f"Apply the plan to `{spec.cluster_name}`? Read the `{key}` artifact "
                "(Artifacts page, or the `plan` subflow run of this run); give a reason either way."
            ),
            timeout_s=APPROVAL_TIMEOUT_S,
        )
    except FlowPauseTimeout:
        # Prefect fails a run whose pause timed out, whatever state it then proposes.
        logger.error("no answer within %s s: nothing was written", APPROVAL_TIMEOUT_S)
        raise
    if not answer.approve:
        return f"rejected: {answer.reason or 'no reason given'}"
    logger.info("approved: %s", answer.reason or "no reason given")
    return None


@flow(name="provision", task_runner=ThreadPoolTaskRunner(max_workers=8), log_prints=False)
def provision(
    spec: EnvironmentSpec = EnvironmentSpec(),  # noqa: B008
    cleanup_on_failure: bool = False,
    require_approval: bool = False,
) -> ProvisionResult | State[Any]:
    """Provision the environment described by `spec`; safe to run again.

    With `cleanup_on_failure`, a failed run removes what it created itself (never what was there
    before it), reports that in the `provision-cleanup-<cluster>` artifact, and still fails with
    its original error.

    With `require_approval`, it first publishes the plan (the `plan` flow) and waits for a person
    to approve it in the UI; rejected, the run ends Cancelled with nothing written; unanswered
    within `APPROVAL_TIMEOUT_S`, it ends Failed (Prefect's rule for a pause that times out), with
    nothing written either. A plan with nothing to do needs no approval.
    """
    if require_approval:
        refused = _why_not_approved(spec)
        if refused is not None:
            get_run_logger().info("not approved (%s): nothing was written", refused)
            return Cancelled(message=f"provision not approved ({refused}); nothing was written")
    ledger = StepLedger()
    try:
        return _provision(spec, ledger)
    except Exception as error:
        if cleanup_on_failure:
            clean_up_failed_provision(
                spec, ledger.finished(), failure_text(error), return_state=True
            )
        raise


def _provision(spec: EnvironmentSpec, ledger: StepLedger) -> ProvisionResult:
    """Run the steps of `provision`, recording in `ledger` each one that may create something."""
    logger = get_run_logger()
    run_key = flow_run.get_id() or uuid.uuid4().hex

    # Preflight: nothing is written before these pass.
    account = caller_account.submit(spec.region)
    zones = check_region_and_zones.submit(spec)
    kops_version = check_kops_version.submit(spec)
    zones.result()
    logger.info("kops %s, account %s", kops_version.result(), account.result())

    bastion_role = ledger.add(ensure_bastion_role.submit(spec))
    state = ledger.add(ensure_state_store(spec, account.result()))
    state_store = f"s3://{state.ids['bucket']}"
    cluster = ledger.add(ensure_cluster(spec, state_store))

    # Branch 1: the control-plane role may build NLBs.
    permissions = ledger.add(ensure_nlb_permissions.submit(spec))

    # Branch 2: the bastion, in a utility subnet of the cluster's VPC.
    # Fresh: a VPC looked up before a teardown must not be reused after it.
    network = cluster_network.with_options(refresh_cache=True).submit(spec)
    security_group = ledger.add(ensure_bastion_security_group.submit(spec, network))
    instance = ledger.add(
        ensure_bastion_instance.submit(
            spec,
            network,
            bastion_client_token(spec, run_key),
            wait_for=[bastion_role, security_group],
        )
    )
    # Resolve upstream steps first, so a failure surfaces as itself, not as a step that never ran.
    for upstream in (network, bastion_role, security_group):
        upstream.result()
    bastion = wait_for_bastion_online.submit(spec, instance.result().ids["instance_id"])

    # Branch 3: the cluster, nginx and the Service that becomes the NLB.
    kubeconfig = export_kubeconfig(spec, state_store)
    wait_for_cluster_valid(spec, state_store, kubeconfig)
    namespace = ledger.add(ensure_namespace(spec, kubeconfig))
    nginx = ledger.add(ensure_nginx.submit(spec, kubeconfig))
    service = ledger.add(ensure_service.submit(spec, kubeconfig, wait_for=[permissions]))
    # The negative control: the same pods behind a second NLB, under Cluster.
    canary = (
        ledger.add(ensure_canary_service.submit(spec, kubeconfig, wait_for=[permissions]))
        if spec.negative_control
        else None
    )
    nginx.result()
    service.result()
    pods = wait_for_nginx_ready.submit(spec, kubeconfig)
    service_info = wait_for_service_hostname(spec, kubeconfig)
    nlb = wait_for_nlb_active(spec, service_info.uid, service_info.hostname or "")
    wait_for_target_group_settings(spec, nlb.arn)
    nodes_running_nginx = nginx_nodes(pods.result())
    nodes = list_nodes(kubeconfig)
    wait_for_targets_healthy(spec, nlb.arn, target_ids(spec.target_type, pods.result(), nodes))
    if canary is not None:
        canary.result()
        canary_spec = spec.negative_control_spec()
        canary_info = wait_for_service_hostname(canary_spec, kubeconfig)
        canary_nlb = wait_for_nlb_active(canary_spec, canary_info.uid, canary_info.hostname or "")
        canary_targets = target_ids("instance", pods.result(), nodes)
        wait_for_targets_healthy(canary_spec, canary_nlb.arn, canary_targets)

    steps = [
        state,
        cluster,
        permissions.result(),
        bastion_role.result(),
        security_group.result(),
        instance.result(),
        namespace,
        nginx.result(),
        service.result(),
        *([canary.result()] if canary is not None else []),
    ]
    online = bastion.result()
    result = ProvisionResult(
        cluster_name=spec.cluster_name,
        state_store=state_store,
        bastion_instance_id=online.instance_id,
        bastion_private_ip=online.private_ip,
        nlb_arn=nlb.arn,
        nlb_dns_name=nlb.dns_name,
        service_uid=service_info.uid,
        nginx_nodes=nodes_running_nginx,
        steps=steps,
    )
    create_markdown_artifact(
        key=artifact_key("provision", spec.cluster_name),
        markdown=provision_summary(
            cluster_name=spec.cluster_name,
            region=spec.region,
            state_store=state_store,
            nlb_dns=nlb.dns_name,
            bastion_id=online.instance_id,
            bastion_ip=online.private_ip,
            kubeconfig=kubeconfig,
            steps=steps,
            deployment=deployment.name or "dev",
        ),
        description=f"Provisioning summary of {spec.cluster_name}",
    )
    logger.info(
        "%s: %s",
        spec.cluster_name,
        "changed " + ", ".join(s.step for s in steps if s.changed)
        if result.changed
        else "nothing changed",
    )
    return result


if __name__ == "__main__":
    provision()
