"""Read the nginx pods' access logs through the Kubernetes API (pods/log) and parse them."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from prefect import task

from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.access_log import parse_lines
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.kube.client import core_v1, kube_api
from tasks._options import RETRY_OPTIONS
from tasks.workload import NodeInfo, PodInfo

# Clocks of the bastion, the nodes and this process differ a little; read a bit further back.
CLOCK_SKEW_SECONDS = 5


def since_seconds(started: datetime, now: datetime) -> int:
    """Seconds of log to read so that everything since `started` (minus skew) is included."""
    return max(1, math.ceil((now - started).total_seconds()) + CLOCK_SKEW_SECONDS)


@task(**RETRY_OPTIONS)
def collect_access_logs(
    spec: EnvironmentSpec,
    kubeconfig: str,
    *,
    pods: list[PodInfo],
    nodes: list[NodeInfo],
    started: datetime,
) -> list[PodLog]:
    """Return each nginx pod's access-log records written since `started`."""
    core = core_v1(kube_api(kubeconfig))
    node_ips = {n.name: n.internal_ip for n in nodes}
    window = since_seconds(started, datetime.now(UTC))
    logs = []
    for pod in pods:
        text = core.read_namespaced_pod_log(
            pod.name, spec.namespace, since_seconds=window, container="nginx"
        )
        logs.append(
            PodLog(
                pod_name=pod.name,
                node_name=pod.node,
                pod_ip=pod.pod_ip,
                node_ip=node_ips.get(pod.node or ""),
                records=tuple(parse_lines(text or "")),
                ready=pod.ready,
            )
        )
    return logs
