"""One measurement each: provision, re-provision, verify and the sequential baseline, on a twin."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from kubernetes.client import CoreV1Api

from bench.calls import (
    Call,
    api_load_balancer_wait,
    attribute,
    product_writes,
    twin_writes,
    within,
    write_operations,
    writes_by_origin,
)
from bench.detection import WAITS, Detection, detect
from bench.prefect_runs import flow_timeline
from bench.sequential import provision_sequentially
from bench.timeline import Span, critical_chain, first, outside
from bench.twin import Twin
from flows.provision import ProvisionResult, provision
from flows.verify import VerifyResult, verify

VERIFY_PHASES = ("discovery", "probe", "logs", "checks")


class BenchError(RuntimeError):
    """A flow under measurement did not complete."""


@dataclass(frozen=True)
class ProvisionSample:
    """One provision run: wall time, its task runs, the chain it waited on, and its waits."""

    wall: float
    flow: Span
    tasks: tuple[Span, ...]
    chain: tuple[Span, ...]
    detections: tuple[Detection, ...]
    wait_operations: dict[str, dict[str, int]]
    finished_at: float
    api_load_balancer_wait: float | None

    @property
    def outside_tasks(self) -> float:
        """Return the flow run's time not spent inside the chain's task runs."""
        return outside(self.flow, self.chain)


@dataclass(frozen=True)
class ReprovisionSample:
    """A second provision of the same environment: wall time and every write it caused."""

    wall: float
    tasks: tuple[Span, ...]
    changed_steps: tuple[str, ...]
    product_writes: int
    twin_writes: int
    writes_by_origin: dict[str, int]
    write_operations: tuple[str, ...]


@dataclass(frozen=True)
class VerifySample:
    """One verify run: wall time, the flow's own phases, and what is left for the report."""

    wall: float
    flow_run: float
    phases: dict[str, float]

    @property
    def report(self) -> float:
        """Return the flow run's time after the checks (artifacts) and before discovery."""
        return max(0.0, self.flow_run - sum(self.phases.values()))

    @property
    def engine(self) -> float:
        """Return the time outside the flow run itself (creating it, starting, finishing)."""
        return max(0.0, self.wall - self.flow_run)


def _completed(state: Any, what: str) -> Any:
    if not state.is_completed():
        raise BenchError(f"{what} ended {state.type.value}: {state.message}")
    return state.result()


def _flow_run_id(state: Any) -> UUID:
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is None:
        raise BenchError("the flow's final state names no flow run")
    return flow_run_id


def ready_times(twin: Twin, calls: list[Call]) -> dict[str, float | None]:
    """Return when (epoch) the twin had each waited-for resource ready, from its own records.

    Nodes: when their kubelets reported them Ready (the Ready condition's transition). NLB: the cloud controller's
    CreateLoadBalancer plus the NLB delay. Targets: its RegisterTargets plus the health delay
    (not before the nodes). SSM: the first DescribeInstanceInformation (the twin starts the
    agent's clock then) plus the SSM delay.
    """
    delays = twin.world.config.delays
    nodes_listed: Any = CoreV1Api(twin.world.kube_api()).list_node()
    ready_at = [
        condition.last_transition_time.timestamp()
        for node in nodes_listed.items
        for condition in node.status.conditions or []
        if condition.type == "Ready" and condition.status == "True"
    ]
    nodes = max(ready_at) if ready_at else None

    def controller(operation: str) -> list[Call]:
        return [c for c in calls if c.origin == "controller" and c.operation == operation]

    created = controller("CreateLoadBalancer")
    registered = controller("RegisterTargets")
    nlb = (created[0].ended or created[0].at) + delays.nlb_active if created else None
    targets = None
    if registered:
        targets = (registered[-1].ended or registered[-1].at) + delays.target_healthy
        targets = max(targets, nodes or targets)
    looked = [
        c for c in calls if c.origin == "product" and c.operation == "DescribeInstanceInformation"
    ]
    ssm = looked[0].at + delays.ssm_online if looked else None
    return {"nodes": nodes, "nlb": nlb, "targets": targets, "ssm": ssm}


def measure_provision(twin: Twin) -> ProvisionSample:
    """Run `provision` on a fresh twin and return what it took."""
    started = time.perf_counter()
    state = provision(spec=twin.spec, return_state=True)
    wall = time.perf_counter() - started
    finished_at = time.time()
    _completed(state, "provision")
    spans = flow_timeline(_flow_run_id(state))
    flow, tasks = spans[0], tuple(spans[1:])
    calls = attribute(twin.calls.snapshot())
    detections = tuple(detect(tasks, calls, ready_times(twin, calls)))
    operations: dict[str, dict[str, int]] = {}
    for kind in WAITS:
        wait = first(tasks, kind.task)
        if wait is not None:
            served = [c for c in within(calls, wait.start, wait.end) if kind.belongs(c)]
            operations[kind.resource] = dict(
                Counter(f"{c.service} {c.operation}" for c in served).most_common()
            )
    return ProvisionSample(
        wall=wall,
        flow=flow,
        tasks=tasks,
        chain=tuple(critical_chain(tasks, end=flow.end, slack=0.05)),
        detections=detections,
        wait_operations=operations,
        finished_at=finished_at,
        api_load_balancer_wait=api_load_balancer_wait(calls),
    )


def measure_reprovision(twin: Twin, *, since: float) -> ReprovisionSample:
    """Provision the already provisioned twin again; count the writes since `since` (epoch)."""
    started = time.perf_counter()
    state = provision(spec=twin.spec, return_state=True)
    wall = time.perf_counter() - started
    result: ProvisionResult = _completed(state, "re-provision")
    calls = within(attribute(twin.calls.snapshot()), since, time.time())
    spans = flow_timeline(_flow_run_id(state))
    return ReprovisionSample(
        wall=wall,
        tasks=tuple(spans[1:]),
        changed_steps=tuple(s.step for s in result.steps if s.changed),
        product_writes=product_writes(calls),
        twin_writes=twin_writes(calls),
        writes_by_origin=writes_by_origin(calls),
        write_operations=tuple(write_operations(calls)),
    )


def measure_verify(twin: Twin) -> VerifySample:
    """Run `verify` on the provisioned twin and return its phases."""
    started = time.perf_counter()
    state = verify(spec=twin.spec, return_state=True)
    wall = time.perf_counter() - started
    result: VerifyResult = _completed(state, "verify")
    if not result.passed:
        raise BenchError("verify did not pass")
    flow = flow_timeline(_flow_run_id(state))[0]
    phases = {name: float(result.timings.get(name, 0.0)) for name in VERIFY_PHASES}
    return VerifySample(wall=wall, flow_run=flow.duration, phases=phases)


def measure_sequential(twin: Twin) -> list[Span]:
    """Run the sequential baseline on a fresh twin and return its steps' spans."""
    return provision_sequentially(twin.spec)
