"""Which pod and node the resilience flow disrupts, when, and how a stopped node comes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.waiting import Observation
from kops_nlb.core.workload import NodeInfo, PodInfo

RestoreAction = Literal["start", "wait-stopped", "nothing", "replaced"]
MIN_LEAD_S = 2.0  # stream time before the first disruption, to see the path healthy


def validate_schedule(
    *,
    duration_s: int,
    pod_loss: bool = True,
    pod_loss_after_s: float,
    node_loss: bool,
    node_loss_after_s: float,
    max_recovery_s: float,
) -> None:
    """Raise ValueError unless there is a disruption and each falls inside the stream, in order."""
    if not (pod_loss or node_loss):
        raise ValueError("nothing to disrupt: ask for pod_loss, node_loss or both")
    if pod_loss and not MIN_LEAD_S <= pod_loss_after_s < duration_s:
        raise ValueError(
            f"pod_loss_after_s must be at least {MIN_LEAD_S:g} and below duration_s "
            f"({duration_s}), got {pod_loss_after_s}"
        )
    if node_loss:
        if pod_loss and not pod_loss_after_s < node_loss_after_s < duration_s:
            raise ValueError(
                f"node_loss_after_s must fall after the pod loss ({pod_loss_after_s:g} s) and "
                f"before the stream ends ({duration_s} s), got {node_loss_after_s}"
            )
        if not MIN_LEAD_S <= node_loss_after_s < duration_s:
            raise ValueError(
                f"node_loss_after_s must be at least {MIN_LEAD_S:g} and below duration_s "
                f"({duration_s}), got {node_loss_after_s}"
            )
    if not max_recovery_s > 0:
        raise ValueError(f"max_recovery_s must be positive, got {max_recovery_s}")


def pod_to_delete(pods: Sequence[PodInfo]) -> PodInfo:
    """Return the nginx pod to delete: the first ready one by name."""
    ready = sorted((p for p in pods if p.ready), key=lambda p: p.name)
    if not ready:
        raise KopsNlbError("no ready nginx pod to delete: the path is down before the test")
    return ready[0]


def node_to_stop(
    pods: Sequence[PodInfo], nodes: Sequence[NodeInfo], served: Mapping[str, int]
) -> NodeInfo:
    """Return the worker node to stop: of those running a ready nginx pod, the one that served
    the most of the stream (`served`: requests per node, recent ones), so its loss is felt."""
    serving = {p.node for p in pods if p.ready and p.node}
    candidates = [n for n in nodes if not n.control_plane and n.instance_id and n.name in serving]
    if not candidates:
        raise KopsNlbError("no worker node with a ready nginx pod and an EC2 instance to stop")
    return min(candidates, key=lambda n: (-served.get(n.name, 0), n.name))


def restore_action(state: str | None) -> RestoreAction:
    """Return what brings a stopped node back, given its instance's state now."""
    if state in ("stopped",):
        return "start"
    if state == "stopping":
        return "wait-stopped"
    if state in ("pending", "running"):
        return "nothing"
    return "replaced"  # terminated or gone: its Auto Scaling group launches a replacement


def workers_back(
    nodes: Sequence[NodeInfo], *, want: int, restarted: str | None, since: datetime
) -> Observation[None]:
    """Judge whether ``want`` worker nodes are Ready and the ``restarted`` one's kubelet has
    reported since ``since`` (a Node can still read Ready from before a short stop)."""
    workers = [n for n in nodes if not n.control_plane]
    ready = sum(1 for n in workers if n.ready)
    failing = [f"{ready} of {want} worker nodes Ready"] if ready < want else []
    back = next((n for n in workers if n.name == restarted), None)
    if restarted is not None and (
        back is None or back.heartbeat_at is None or back.heartbeat_at < since
    ):
        failing.append(f"node {restarted} has not reported since it was started")
    return Observation(ready=not failing, failing=tuple(failing), done=ready, total=want)
