"""The probe (SSM Run Command on the bastion) and the nginx access logs it is judged by."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kops_nlb.aws import ssm_commands
from kops_nlb.core.errors import KopsNlbError, TransientError, failure_text
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy
from kops_nlb.core.verify.access_log_scan import scan_for_token
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.core.verify.probe_run import (
    ProbeCommandFailed,
    ProbeRun,
    probe_run_from,
    since_seconds,
)
from kops_nlb.core.workload import NodeInfo, PodInfo
from kops_nlb.kube import workload as kube
from kops_nlb.kube.client import kube_api
from tasks._invocations import wait_for_invocation
from tasks._options import RETRY_OPTIONS


@task(
    name="run-probe",
    task_run_name="run-probe-{instance_id}",
    cache_policy=NO_CACHE,
    **RETRY_OPTIONS,
)
def run_probe(
    *,
    region: str,
    instance_id: str,
    commands: list[str],
    timeout_s: int,
    poll: PollPolicy,
) -> ProbeRun:
    """Run `commands` on `instance_id` with AWS-RunShellScript, wait, and return the outcome.

    `timeout_s` is the script's executionTimeout on the instance; the wait lasts delivery plus
    execution plus a grace period. Raises ProbeCommandFailed when the command ends Failed,
    TimedOut or Cancelled, with its exit code and the tail of its stderr.
    """
    logger = get_run_logger()
    command_id = ssm_commands.find_probe_command(region, instance_id=instance_id, commands=commands)
    adopted = command_id is not None
    if command_id is None:
        command_id = ssm_commands.send_probe_command(
            region, instance_id=instance_id, commands=commands, timeout_s=timeout_s
        )
    if adopted:
        logger.info(
            "probe command %s was already sent to %s; following it", command_id, instance_id
        )
    else:
        logger.info("sent probe command %s to %s", command_id, instance_id)
    try:
        invocation = wait_for_invocation(
            region=region,
            instance_id=instance_id,
            command_id=command_id,
            timeout_s=timeout_s,
            poll=poll,
            logger=logger,
            what="probe command",
        )
    except Exception as exc:
        if isinstance(exc, KopsNlbError) and not isinstance(exc, TransientError):
            raise
        # The command exists now: whatever went wrong, no retry may send it again.
        raise ProbeCommandFailed(
            f"Failed to follow probe command {command_id} on {instance_id}: {failure_text(exc)}"
        ) from exc
    run = probe_run_from(invocation, instance_id=instance_id, adopted=adopted)
    logger.info(
        "probe command %s: %s, exit %s, %d characters of output%s",
        command_id,
        run.status,
        run.response_code,
        len(run.stdout),
        " (truncated by SSM)" if run.truncated else "",
    )
    return run


@task(**RETRY_OPTIONS)
def read_access_log(
    spec: EnvironmentSpec,
    kubeconfig: str,
    *,
    pod: PodInfo,
    node_ip: str | None,
    started: datetime,
    token: str,
) -> PodLog:
    """Return one nginx pod's access-log records of this run (lines carrying `token`).

    The log since `started` is streamed and searched for the token; only the lines with it are
    parsed, the others are counted. The window is measured at each attempt (the API takes it in
    seconds before now), so a retry reads as far back as the first try.
    """
    window = since_seconds(started, datetime.now(UTC))
    chunks = kube.stream_pod_log(
        kube_api(kubeconfig), spec.namespace, pod.name, container="nginx", since_seconds=window
    )
    scan = scan_for_token(chunks, token)
    return PodLog(
        pod_name=pod.name,
        node_name=pod.node,
        pod_ip=pod.pod_ip,
        node_ip=node_ip,
        records=scan.records,
        ready=pod.ready,
        unparsed_lines=scan.other_lines,
    )


def collect_access_logs(
    spec: EnvironmentSpec,
    kubeconfig: str,
    *,
    pods: list[PodInfo],
    nodes: list[NodeInfo],
    started: datetime,
    token: str,
) -> list[PodLog]:
    """Return each nginx pod's access-log records of this run, in the order of `pods`.

    One task per pod, read side by side: each read is one Kubernetes call with retries of its
    own, so a flaky API costs a retry of that read, not of all of them.
    """
    node_ips = {n.name: n.internal_ip for n in nodes}
    reads = [
        read_access_log.submit(
            spec,
            kubeconfig,
            pod=pod,
            node_ip=node_ips.get(pod.node or ""),
            started=started,
            token=token,
        )
        for pod in pods
    ]
    return [read.result() for read in reads]
