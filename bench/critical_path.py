"""The shortest possible provisioning time of the simulated world, from its latencies (pure).

Steps take only their configured latency (the work around them counts as zero), and each waits
for the steps it truly depends on. kops creates the cluster's API load balancer first and waits
until it is active (an AWS SDK waiter) before it writes the launch templates: no instance boots,
and no node's clock starts, before then. Two dependency models are given:

- ``twin``: what the twin enforces. Its cloud controller registers the targets in the same
  pass that creates the NLB, so the target-health delay runs alongside NLB activation.
- ``chain``: the procedure's chain, with target health starting only once the NLB is active.

The ratio target is checked against ``twin`` (the shorter, so the stricter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Latencies:
    """Seconds the simulated cloud takes on its own (already scaled)."""

    node_ready: float
    nlb_active: float
    target_healthy: float
    ssm_online: float


@dataclass(frozen=True)
class Step:
    """One step of the world: its latency and the steps it must wait for."""

    name: str
    seconds: float
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Path:
    """The longest chain through a DAG: its length and its steps in order."""

    seconds: float
    steps: tuple[str, ...]


def world_dag(latencies: Latencies, *, model: str = "twin") -> list[Step]:
    """Return the provisioning DAG (`model` is ``twin`` or ``chain``, see the module doc)."""
    if model not in ("twin", "chain"):
        raise ValueError(f"unknown dependency model {model!r}")
    targets_after = ("nlb_active",) if model == "chain" else ("workload_applied",)
    return [
        Step("cluster_created", 0.0),
        Step("api_nlb_active", latencies.nlb_active, ("cluster_created",)),
        Step("nodes_ready", latencies.node_ready, ("api_nlb_active",)),
        Step("workload_applied", 0.0, ("nodes_ready",)),
        Step("nlb_active", latencies.nlb_active, ("workload_applied",)),
        Step("targets_healthy", latencies.target_healthy, targets_after),
        Step("bastion_launched", 0.0, ("cluster_created",)),
        Step("ssm_online", latencies.ssm_online, ("bastion_launched",)),
        Step("done", 0.0, ("nlb_active", "targets_healthy", "ssm_online")),
    ]


def longest_path(steps: Sequence[Step]) -> Path:
    """Return the critical path of a DAG given in any order; raise ValueError on a cycle."""
    by_name = {s.name: s for s in steps}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    visiting: set[str] = set()

    def resolve(name: str) -> float:
        if name in finish:
            return finish[name]
        if name in visiting:
            raise ValueError(f"dependency cycle through {name!r}")
        if name not in by_name:
            raise ValueError(f"unknown step {name!r}")
        visiting.add(name)
        step = by_name[name]
        start, before = 0.0, None
        for dependency in step.after:
            end = resolve(dependency)
            if before is None or end > start:
                start, before = end, dependency
        visiting.discard(name)
        finish[name] = start + step.seconds
        via[name] = before
        return finish[name]

    needed = {dependency for step in steps for dependency in step.after}
    # The longest finish; among equals, a step nothing waits for (the DAG's end).
    last = max(by_name, key=lambda n: (resolve(n), n not in needed)) if by_name else None
    chain: list[str] = []
    cursor = last
    while cursor is not None:
        chain.append(cursor)
        cursor = via[cursor]
    return Path(seconds=finish[last] if last else 0.0, steps=tuple(reversed(chain)))


def sequential_latency(latencies: Latencies) -> float:
    """Return the latency the procedure's strictly sequential order waits out on the twin.

    kops's API load balancer, validate, then the NLB, then its targets (on the twin already
    counting since the NLB was created), then the bastion, whose SSM clock starts when it is
    first looked at.
    """
    targets_extra = max(0.0, latencies.target_healthy - latencies.nlb_active)
    api_then_nodes = latencies.nlb_active + latencies.node_ready
    return api_then_nodes + latencies.nlb_active + targets_extra + latencies.ssm_online
