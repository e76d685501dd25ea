"""The resilience test's steps: stream requests from the bastion, lose a pod or a node, restore."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import ec2_nodes, ssm_commands
from kops_nlb.core.errors import KopsNlbError, TransientError, failure_text
from kops_nlb.core.resilience.disruption import restore_action, workers_back
from kops_nlb.core.resilience.timeline import Disruption
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.verify.probe_run import (
    ProbeCommandFailed,
    ProbeRun,
    probe_run_from,
)
from kops_nlb.core.waiting import Observation, wait_until
from kops_nlb.core.workload import NodeInfo, PodInfo
from kops_nlb.kube import workload as kube
from kops_nlb.kube.client import kube_api
from tasks._invocations import wait_for_invocation
from tasks._options import RETRY_OPTIONS


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@task(name="start-stream", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def start_stream(*, region: str, instance_id: str, commands: list[str], timeout_s: int) -> str:
    """Send the stream script to the bastion (or adopt the same one already sent); return its id."""
    logger = get_run_logger()
    command_id = ssm_commands.find_probe_command(region, instance_id=instance_id, commands=commands)
    if command_id is not None:
        logger.info(
            "stream command %s was already sent to %s; following it", command_id, instance_id
        )
        return command_id
    command_id = ssm_commands.send_probe_command(
        region, instance_id=instance_id, commands=commands, timeout_s=timeout_s
    )
    logger.info("sent stream command %s to %s", command_id, instance_id)
    return command_id


@task(name="follow-stream", cache_policy=NO_CACHE)
def follow_stream(
    *, region: str, instance_id: str, command_id: str, timeout_s: int, poll: PollPolicy
) -> ProbeRun:
    """Wait until the stream command ends and return its outcome (never sends it again)."""
    try:
        invocation = wait_for_invocation(
            region=region,
            instance_id=instance_id,
            command_id=command_id,
            timeout_s=timeout_s,
            poll=poll,
            logger=get_run_logger(),
            what="stream command",
        )
    except Exception as exc:
        if isinstance(exc, KopsNlbError) and not isinstance(exc, TransientError):
            raise
        raise ProbeCommandFailed(
            f"Failed to follow stream command {command_id} on {instance_id}: {failure_text(exc)}"
        ) from exc
    return probe_run_from(invocation, instance_id=instance_id, adopted=False)


@task(name="delete-nginx-pod", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def delete_nginx_pod(spec: EnvironmentSpec, kubeconfig: str, pod: PodInfo) -> Disruption:
    """Delete one nginx pod (its Deployment makes a new one); return when it happened."""
    at = _now_ms()
    deleted = kube.delete_pod(kube_api(kubeconfig), spec.namespace, pod.name)
    get_run_logger().info(
        "deleted nginx pod %s on %s%s", pod.name, pod.node, "" if deleted else " (already gone)"
    )
    return Disruption(kind="pod", name=f"{pod.name} on {pod.node}", at_epoch_ms=at)


@task(name="stop-node", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def stop_node(spec: EnvironmentSpec, node: NodeInfo) -> Disruption:
    """Stop the node's EC2 instance; return when it happened."""
    if node.instance_id is None:
        raise KopsNlbError(f"node {node.name} has no EC2 instance to stop")
    at = _now_ms()
    ec2_nodes.stop_instance(spec.region, node.instance_id)
    get_run_logger().info("stopped instance %s of node %s", node.instance_id, node.name)
    return Disruption(kind="node", name=f"{node.name} ({node.instance_id})", at_epoch_ms=at)


@task(name="restore-node", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def restore_node(spec: EnvironmentSpec, kubeconfig: str, node: NodeInfo) -> str:
    """Bring a stopped node back (start it, or let its group replace it); return what was done."""
    logger = get_run_logger()
    instance_id = node.instance_id or ""
    action = restore_action(ec2_nodes.instance_state(spec.region, instance_id))
    if action == "wait-stopped":
        wait_until(
            lambda: _stopped(spec.region, instance_id),
            what=f"instance {instance_id} to stop",
            timeout=spec.timeouts.cluster_valid,
            poll=spec.poll,
            logger=logger,
        )
        action = "start"
    restarted = None
    since = datetime.now(UTC).replace(microsecond=0)  # Node timestamps are whole seconds
    if action == "start":
        ec2_nodes.start_instance(spec.region, instance_id)
        restarted = node.name
        note = f"started instance {instance_id} of node {node.name} again"
    elif action == "nothing":
        note = f"instance {instance_id} of node {node.name} was already running again"
    else:
        note = (
            f"instance {instance_id} of node {node.name} is gone; its Auto Scaling group "
            "replaces it"
        )
    api = kube_api(kubeconfig)
    want = _worker_count(kube.list_nodes(api), node)
    wait_until(
        lambda: workers_back(kube.list_nodes(api), want=want, restarted=restarted, since=since),
        what="every worker node Ready again",
        timeout=spec.timeouts.cluster_valid,
        poll=spec.poll,
        logger=logger,
    )
    logger.info("%s; every worker node is Ready", note)
    return note


def _stopped(region: str, instance_id: str) -> Observation[None]:
    state = ec2_nodes.instance_state(region, instance_id)
    return Observation(ready=state != "stopping", failing=(f"instance is {state}",))


def _worker_count(nodes: list[NodeInfo], stopped: NodeInfo) -> int:
    return len({n.name for n in nodes if not n.control_plane} | {stopped.name})
