"""The Kubernetes waits of the procedure, each one list and one watch (``watching.ObjectWatch``).

Nodes Ready, a Deployment's rollout, a Service's load-balancer hostname: each judge turns the
objects the watch holds into an ``Observation`` with the same reasons and progress the polling
waits reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from kops_nlb.core.logs import Logger
from kops_nlb.core.waiting import Observation
from kops_nlb.core.workload import NodeInfo, ServiceInfo, rollout_observation
from kops_nlb.kube.client import apps_v1, core_v1
from kops_nlb.kube.watching import ObjectWatch, WatchStats
from kops_nlb.kube.workload import node_info, service_info_of

Progress = Callable[[Observation[Any]], None] | None


def nodes_observation(nodes: list[NodeInfo], expected: int) -> Observation[list[NodeInfo]]:
    """Return whether at least `expected` nodes are registered and Ready."""
    ready = [n for n in nodes if n.ready]
    failing = tuple(f"node {n.name} not Ready" for n in nodes if not n.ready)
    if len(nodes) < expected:
        failing += (f"{len(nodes)} of {expected} nodes registered",)
    return Observation(
        ready=len(ready) >= expected,
        value=nodes,
        failing=failing,
        done=len(ready),
        total=max(expected, len(nodes)),
    )


def wait_nodes_ready(
    api: client.ApiClient,
    *,
    expected: int,
    timeout: float,
    logger: Logger | None = None,
    on_observation: Progress = None,
    stats: WatchStats | None = None,
) -> list[NodeInfo]:
    """Watch the Nodes until `expected` of them are Ready; return them."""
    waiter: ObjectWatch[list[NodeInfo]] = ObjectWatch(
        core_v1(api).list_node,
        lambda nodes: nodes_observation([node_info(n) for n in nodes], expected),
        what=f"{expected} nodes Ready",
        logger=logger,
        on_observation=on_observation,
        stats=stats or WatchStats(),
    )
    return waiter.wait(timeout)


def _one(objects: list[Any], kind: str, name: str) -> tuple[Any, Observation[Any] | None]:
    if not objects:
        return None, Observation(ready=False, failing=(f"{kind} {name} not found",))
    return objects[0], None


def wait_rollout(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    timeout: float,
    logger: Logger | None = None,
    on_observation: Progress = None,
    stats: WatchStats | None = None,
) -> int:
    """Watch a Deployment until its rollout is complete; return its ready replicas."""

    def judge(deployments: list[Any]) -> Observation[int]:
        dep, missing = _one(deployments, "deployment", name)
        if missing is not None:
            return missing
        status = dep.status
        return rollout_observation(
            wanted=dep.spec.replicas or 0,
            ready=status.ready_replicas or 0 if status else 0,
            updated=status.updated_replicas or 0 if status else 0,
            observed_generation=status.observed_generation or 0 if status else 0,
            generation=dep.metadata.generation or 0,
            replicas=status.replicas or 0 if status else 0,
        )

    waiter: ObjectWatch[int] = ObjectWatch(
        apps_v1(api).list_namespaced_deployment,
        judge,
        what=f"deployment {namespace}/{name}",
        args=(namespace,),
        kwargs={"field_selector": f"metadata.name={name}"},
        logger=logger,
        on_observation=on_observation,
        stats=stats or WatchStats(),
    )
    return waiter.wait(timeout)


def wait_service_hostname(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    timeout: float,
    logger: Logger | None = None,
    on_observation: Progress = None,
    stats: WatchStats | None = None,
) -> ServiceInfo:
    """Watch a Service until the cloud controller gives it a load-balancer hostname."""

    def judge(services: list[Any]) -> Observation[ServiceInfo]:
        svc, missing = _one(services, "service", name)
        if missing is not None:
            return missing
        info = service_info_of(svc)
        failing = () if info.hostname else ("no status.loadBalancer.ingress hostname yet",)
        return Observation(ready=bool(info.hostname), value=info, failing=failing)

    waiter: ObjectWatch[ServiceInfo] = ObjectWatch(
        core_v1(api).list_namespaced_service,
        judge,
        what=f"service {namespace}/{name} load balancer",
        args=(namespace,),
        kwargs={"field_selector": f"metadata.name={name}"},
        logger=logger,
        on_observation=on_observation,
        stats=stats or WatchStats(),
    )
    return waiter.wait(timeout)
