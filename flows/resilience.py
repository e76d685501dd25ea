"""`resilience`: measure how the NLB path rides out losing a pod, then a node.

The bastion streams requests through the NLB at a steady rate for a bounded time while the flow
deletes one nginx pod and then, optionally, stops one node's instance. Per disruption it
measures the failed requests and the time until every request succeeded again, and from nginx's
logs whether the client address stayed the bastion's throughout. It restores what it disturbed
(the Deployment replaces the pod; the node is started again or replaced by its group) and ends
Failed when the address was not preserved or a recovery exceeded `max_recovery_s`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from kops_nlb.core.errors import KopsNlbError, VerificationFailed
from kops_nlb.core.reports.resilience import resilience_markdown, timeline_chart
from kops_nlb.core.reports.steps import artifact_key
from kops_nlb.core.resilience.disruption import node_to_stop, pod_to_delete, validate_schedule
from kops_nlb.core.resilience.stream_script import (
    build_stream_script,
    max_stream_duration_s,
    parse_stream_output,
)
from kops_nlb.core.resilience.timeline import (
    Disruption,
    client_addresses,
    event_impacts,
    failures_before,
    per_second,
    requests_by_node,
    resilience_problems,
)
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.core.verify.probe_script import ProbeTarget, new_probe_token
from tasks.bastion import find_bastion
from tasks.cluster import export_kubeconfig
from tasks.preflight import caller_account
from tasks.probe import collect_access_logs
from tasks.resilience import (
    delete_nginx_pod,
    follow_stream,
    restore_node,
    start_stream,
    stop_node,
)
from tasks.workload import describe_service, list_nginx_pods, list_nodes, wait_for_nginx_ready

REQUEST_TIMEOUT_S = 2.0


class EventOutcome(BaseModel):
    """What one disruption cost the stream."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    at_s: float
    requests: int
    failed: int
    recovery_s: float | None


class ResilienceResult(BaseModel):
    """The verdict of one resilience run."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    client_address_preserved: bool
    events: list[EventOutcome]
    restored: list[str]
    problems: list[str]


@flow(name="resilience")
def resilience(
    spec: EnvironmentSpec = EnvironmentSpec(),  # noqa: B008
    rate_per_s: Annotated[int, Field(ge=1, le=20)] = 10,
    duration_s: Annotated[int, Field(ge=5, le=600)] = 40,
    pod_loss: bool = True,
    pod_loss_after_s: Annotated[float, Field(ge=2)] = 5.0,
    node_loss: bool = False,
    node_loss_after_s: Annotated[float, Field(ge=2)] = 20.0,
    max_recovery_s: Annotated[float, Field(gt=0)] = 60.0,
) -> ResilienceResult:
    """Stream requests through the NLB, lose a pod and/or a node, measure, restore, judge."""
    logger = get_run_logger()
    validate_schedule(
        duration_s=duration_s,
        pod_loss=pod_loss,
        pod_loss_after_s=pod_loss_after_s,
        node_loss=node_loss,
        node_loss_after_s=node_loss_after_s,
        max_recovery_s=max_recovery_s,
    )

    # Discover.
    state_store = f"s3://{spec.bucket_for(caller_account(spec.region))}"
    kubeconfig = export_kubeconfig(spec, state_store)
    service, bastion = describe_service(spec, kubeconfig), find_bastion(spec)
    if not service.hostname:
        raise KopsNlbError(
            f"Service {spec.namespace}/{spec.service_name} has no NLB: run `provision`"
        )
    nodes = list_nodes(kubeconfig)
    victim_pod = pod_to_delete(list_nginx_pods(spec, kubeconfig)) if pod_loss else None

    # Stream, and disturb while it runs.
    token = new_probe_token()
    commands = build_stream_script(
        token=token,
        target=ProbeTarget(label="dns", host=service.hostname, port=spec.service_port),
        rate_per_s=rate_per_s,
        duration_s=duration_s,
        source_ip=bastion.private_ip,
        timeout_s=REQUEST_TIMEOUT_S,
    )
    started = datetime.now(UTC)
    budget = int(max_stream_duration_s(duration_s=duration_s, timeout_s=REQUEST_TIMEOUT_S)) + 30
    command_id = start_stream(
        region=spec.region, instance_id=bastion.instance_id, commands=commands, timeout_s=budget
    )
    sent = time.monotonic()
    pod_logs: dict[str, PodLog] = {}  # by pod: the latest read holds everything since start
    events: list[Disruption] = []
    restored: list[str] = []
    stopped_node = None
    try:
        if victim_pod is not None:
            _sleep_until(sent + pod_loss_after_s)
            for log in collect_access_logs(
                spec, kubeconfig, pods=[victim_pod], nodes=nodes, started=started, token=token
            ):
                pod_logs[log.pod_name] = log
            events.append(delete_nginx_pod(spec, kubeconfig, victim_pod))
            restored.append(f"pod {victim_pod.name}: its Deployment made a replacement")
        if node_loss:
            _sleep_until(sent + node_loss_after_s)
            pods_now = list_nginx_pods(spec, kubeconfig)
            for log in collect_access_logs(
                spec, kubeconfig, pods=pods_now, nodes=nodes, started=started, token=token
            ):
                pod_logs[log.pod_name] = log
            # The node that serves the stream now (a pod loss may have moved the traffic), so
            # its loss is felt: the requests of about the last two seconds.
            served = requests_by_node(list(pod_logs.values()), token=token, latest=2 * rate_per_s)
            stopped_node = node_to_stop(pods_now, nodes, served)
            events.append(stop_node(spec, stopped_node))
        run = follow_stream(
            region=spec.region,
            instance_id=bastion.instance_id,
            command_id=command_id,
            timeout_s=budget,
            poll=spec.poll,
        )
    finally:
        # Restore whatever happens above: a stopped node never outlives the run.
        if stopped_node is not None:
            restored.append(restore_node(spec, kubeconfig, stopped_node))

    # Restored: the Deployment's replicas are ready again.
    pods_after = wait_for_nginx_ready(spec, kubeconfig)
    restored.append(f"nginx: {len(pods_after)} replicas ready again")
    for log in collect_access_logs(
        spec,
        kubeconfig,
        pods=pods_after,
        nodes=list_nodes(kubeconfig),
        started=started,
        token=token,
    ):
        pod_logs[log.pod_name] = log

    # Judge and report.
    output = parse_stream_output(run.stdout)
    impacts = event_impacts(output, events)
    addresses = client_addresses(
        list(pod_logs.values()), token=token, bastion_ip=bastion.private_ip
    )
    problems = resilience_problems(impacts, addresses, max_recovery_s=max_recovery_s)
    if output.started_epoch_ms is None:
        problems.insert(0, "the stream script printed no start line")
    seconds = per_second(output)
    create_markdown_artifact(
        key=artifact_key("resilience", spec.cluster_name),
        markdown=resilience_markdown(
            cluster_name=spec.cluster_name,
            rate_per_s=rate_per_s,
            duration_s=duration_s,
            impacts=impacts,
            seconds=seconds,
            addresses=addresses,
            bastion_ip=bastion.private_ip,
            baseline_failed=failures_before(output, events),
            restored=restored,
            problems=problems,
            chart_png=timeline_chart(
                cluster_name=spec.cluster_name, seconds=seconds, impacts=impacts
            ),
        ),
        description=f"Reroute time of the NLB path of {spec.cluster_name} under pod and node loss",
    )
    for impact in impacts:
        logger.info(
            "%s loss (%s): %d of %d requests failed, recovery %s",
            impact.kind,
            impact.name,
            impact.failed,
            impact.requests,
            "never" if impact.recovery_s is None else f"{impact.recovery_s:.2f} s",
        )
    for note in restored:
        logger.info("restored: %s", note)
    if problems:
        raise VerificationFailed("resilience failed: " + "; ".join(problems))
    return ResilienceResult(
        passed=True,
        client_address_preserved=addresses.preserved,
        events=[
            EventOutcome(
                kind=i.kind,
                name=i.name,
                at_s=i.at_s,
                requests=i.requests,
                failed=i.failed,
                recovery_s=i.recovery_s,
            )
            for i in impacts
        ],
        restored=restored,
        problems=problems,
    )


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))
