"""nginx, its pods and nodes, and the Service, as the procedure sees them (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.waiting import Observation


class PodInfo(BaseModel):
    """An nginx pod and where it runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    node: str | None
    pod_ip: str | None
    host_ip: str | None
    ready: bool


class NodeInfo(BaseModel):
    """A cluster node, with its EC2 instance."""

    model_config = ConfigDict(frozen=True)

    name: str
    instance_id: str | None
    internal_ip: str | None
    zone: str | None
    control_plane: bool
    ready: bool
    heartbeat_at: datetime | None = None  # the Ready condition's lastHeartbeatTime


class ServiceInfo(BaseModel):
    """The LoadBalancer Service as the cloud controller sees it."""

    model_config = ConfigDict(frozen=True)

    uid: str
    hostname: str | None
    external_traffic_policy: str | None
    health_check_node_port: int | None
    annotations: dict[str, str]
    type: str | None


def instance_id_from_provider_id(provider_id: str | None) -> str | None:
    """Return the EC2 instance id of a node's providerID (aws:///zone/i-...), else None."""
    if not provider_id or not provider_id.startswith("aws://"):
        return None
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None


def rollout_observation(
    *,
    wanted: int,
    ready: int,
    updated: int,
    observed_generation: int,
    generation: int,
    replicas: int,
) -> Observation[int]:
    """Judge a Deployment's rollout: current generation, every replica updated and ready, and
    no old replica left (``replicas`` counts old and new pods: while old ones run, ``ready``
    counts them too, and the pods listed next would include them)."""
    old = max(replicas - updated, 0)
    done = observed_generation >= generation and ready >= wanted and updated >= wanted and not old
    failing: tuple[str, ...] = ()
    if not done:
        failing = (f"{ready}/{wanted} replicas ready",)
        if old:
            failing += (f"{old} old replicas still running",)
    return Observation(ready=done, value=ready, failing=failing, done=ready, total=wanted)


def nginx_nodes(pods: Iterable[PodInfo]) -> list[str]:
    """Return the names of the nodes that run an nginx pod, sorted."""
    return sorted({p.node for p in pods if p.node})


def instance_ids_of(node_names: Iterable[str], nodes: Iterable[NodeInfo]) -> list[str]:
    """Return the EC2 instance ids of the named nodes, in the order given (unknown ones skipped)."""
    by_name = {n.name: n for n in nodes}
    return [i for name in node_names if name in by_name and (i := by_name[name].instance_id)]


def target_ids(target_type: str, pods: Iterable[PodInfo], nodes: Iterable[NodeInfo]) -> list[str]:
    """Return the NLB targets that must be healthy: the instances of the nodes running nginx
    (instance targets), or the ready nginx pods' addresses (ip targets)."""
    pods = list(pods)
    if target_type == "ip":
        return sorted(p.pod_ip for p in pods if p.ready and p.pod_ip)
    return instance_ids_of(nginx_nodes(pods), nodes)
