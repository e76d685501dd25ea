"""The NLB's data path in the twin: real TCP listeners on the per-AZ interface addresses.

A connection accepted on an interface is routed the way an NLB with instance targets, then
kube-proxy on the chosen node, would route it (``lb_plan``), and bytes are copied both ways
until each side has closed its half. The hop to the pod starts from the address the pod would
see on AWS (the client's, the NLB's own without client IP preservation, or the node's under
``Cluster``), a PROXY v2 header goes first when the target group asks for one, and a hairpin
connection (the client is the chosen target) is held unanswered until the client gives up. There is no separate NodePort hop: the
NLB and kube-proxy act as one proxy.

``apply`` is declarative and cheap when nothing changed (the twin's data path calls it on
every reconcile): listeners are opened and closed to match, and a changed plan (targets,
health, endpoints, traffic policy) applies to the next connection while open ones carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Self, TypeVar

from sandbox.dataplane.lb_plan import (
    TRAFFIC_POLICIES,
    Endpoint,
    LoadBalancerPlan,
    TargetNode,
    is_hairpin,
    proxy_v2_header,
    reachable_targets,
    target_endpoints,
    upstream_source,
    validate,
)
from sandbox.dataplane.loop import LoopThread
from sandbox.dataplane.tcp import Handler, TcpListener, reset, splice

__all__ = [
    "TRAFFIC_POLICIES",
    "Endpoint",
    "Flow",
    "LoadBalancerPlan",
    "NlbCounters",
    "NlbDataPlane",
    "TargetNode",
]

log = logging.getLogger(__name__)

NoEndpointAction = Literal["reset", "blackhole"]
CONNECT_TIMEOUT = 3.0
_CHUNK = 65536
_BACKLOG = 1024
T = TypeVar("T")


@dataclass(frozen=True)
class NlbCounters:
    """Connection counts since start (or ``reset_counters``), for tests and benchmarks."""

    listeners: dict[tuple[str, str, int], int]  # (lb, interface ip, port) -> accepted
    targets: dict[tuple[str, str], int]  # (lb, node) -> connections the NLB sent there
    endpoints: dict[tuple[str, str, int], int]  # (lb, pod ip, port) -> connections opened
    dropped: dict[tuple[str, str], int]  # (lb, reason) -> connections reset or blackholed
    active: int  # connections open now


@dataclass(frozen=True)
class Flow:
    """One accepted connection and where it went, like a flow-log record."""

    epoch_ns: int
    lb: str
    zone: str
    listener: tuple[str, int]
    client: tuple[str, int]
    target: str | None
    endpoint: tuple[str, int] | None
    source_ip: str | None  # the address the pod saw the connection come from
    outcome: str  # "forwarded" or the reason it was dropped


@dataclass
class _Listener:
    lb: str
    zone: str
    tcp: TcpListener | None = None


class NlbDataPlane:
    """Every NLB's listeners and forwarding, on one event-loop thread."""

    def __init__(
        self,
        *,
        loop: LoopThread | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        no_endpoint: NoEndpointAction = "reset",
        max_flows: int = 10_000,
    ) -> None:
        """``no_endpoint``: what a node without a usable endpoint does with the connection:
        ``reset`` it, or ``blackhole`` it (hold it silently until the client gives up, as
        kube-proxy's DROP rule looks from a client behind a pass-through NLB)."""
        self._own_loop = loop is None
        self._loop = loop or LoopThread("dataplane-nlb")
        self._connect_timeout = connect_timeout
        self._no_endpoint = no_endpoint
        self._control = threading.Lock()
        self._applied: tuple[LoadBalancerPlan, ...] | None = None
        self._plans: dict[str, LoadBalancerPlan] = {}
        self._listeners: dict[tuple[str, int], _Listener] = {}
        self._bind_errors: dict[tuple[str, int], str] = {}
        self._rr: dict[Hashable, itertools.count[int]] = {}
        self._stats_lock = threading.Lock()
        self._listener_hits: Counter[tuple[str, str, int]] = Counter()
        self._target_hits: Counter[tuple[str, str]] = Counter()
        self._endpoint_hits: Counter[tuple[str, str, int]] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._active = 0
        self._flows: deque[Flow] = deque(maxlen=max_flows)

    # public ---------------------------------------------------------------------------------
    def apply(self, lbs: Iterable[LoadBalancerPlan]) -> None:
        """Make the listeners and forwarding match ``lbs`` (the complete desired set).

        Raises ValueError for an invalid plan (nothing is changed then). A listener that cannot
        bind is logged and retried on the next ``apply``; see ``bind_errors``.
        """
        plans = tuple(lbs)
        validate(plans)
        with self._control:
            if plans == self._applied and not self._bind_errors:
                return
            self._loop.run(self._apply(plans))
            self._applied = plans

    def stop(self) -> None:
        """Close every listener and connection, then the loop thread (when owned)."""
        with self._control:
            if self._loop.running:
                self._loop.run(self._close_all())
            self._applied = None
            if self._own_loop:
                self._loop.stop()

    close = stop

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def plans(self) -> tuple[LoadBalancerPlan, ...]:
        """Return the load balancers as last applied (what the data path forwards by now)."""
        with self._control:
            return self._applied or ()

    def listening(self) -> list[tuple[str, int]]:
        """Return the ``(ip, port)`` of every open listener."""
        return sorted(self._listeners)

    @property
    def bind_errors(self) -> dict[tuple[str, int], str]:
        """Listeners that could not be opened at the last ``apply``, with the reason."""
        return dict(self._bind_errors)

    def counters(self) -> NlbCounters:
        """Return a snapshot of the connection counters."""
        with self._stats_lock:
            return NlbCounters(
                listeners=dict(self._listener_hits),
                targets=dict(self._target_hits),
                endpoints=dict(self._endpoint_hits),
                dropped=dict(self._dropped),
                active=self._active,
            )

    def reset_counters(self) -> None:
        """Zero the counters (not ``active``) and forget the flow records."""
        with self._stats_lock:
            self._listener_hits.clear()
            self._target_hits.clear()
            self._endpoint_hits.clear()
            self._dropped.clear()
            self._flows.clear()

    def flows(self, limit: int | None = None) -> list[Flow]:
        """Return the most recent flow records, oldest first (all kept ones by default)."""
        with self._stats_lock:
            records = list(self._flows)
        return records[-limit:] if limit else records

    # on the loop -----------------------------------------------------------------------------
    async def _apply(self, plans: tuple[LoadBalancerPlan, ...]) -> None:
        self._plans = {plan.name: plan for plan in plans}
        desired = {
            (ip, port): (plan.name, zone) for plan in plans for ip, port, zone in plan.listeners
        }
        for key in [k for k in self._listeners if k not in desired]:
            await self._close_listener(key)
        self._bind_errors = {}
        for key, (lb, zone) in desired.items():
            listener = self._listeners.get(key)
            if listener is not None:
                if listener.lb != lb:
                    await self._close_listener(key)
                else:
                    listener.zone = zone
                    continue
            state = _Listener(lb=lb, zone=zone)
            try:
                state.tcp = await TcpListener.open(
                    key[0], key[1], self._client_handler(key, state), backlog=_BACKLOG
                )
            except OSError as exc:
                self._bind_errors[key] = str(exc)
                log.error("NLB %s cannot listen on %s:%s: %s", lb, key[0], key[1], exc)
                continue
            self._listeners[key] = state

    async def _close_listener(self, key: tuple[str, int]) -> None:
        listener = self._listeners.pop(key, None)
        if listener is not None and listener.tcp is not None:
            await listener.tcp.close()

    async def _close_all(self) -> None:
        for key in list(self._listeners):
            await self._close_listener(key)
        self._plans = {}

    def _client_handler(self, key: tuple[str, int], listener: _Listener) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with self._stats_lock:
                self._active += 1
            try:
                await self._forward(key, listener, reader, writer)
            except asyncio.CancelledError:
                reset(writer)
                raise
            except Exception:
                log.exception("NLB %s: forwarding failed", listener.lb)
                reset(writer)
            finally:
                with self._stats_lock:
                    self._active -= 1

        return handle

    async def _forward(
        self,
        key: tuple[str, int],
        listener: _Listener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        client = (str(peer[0]), int(peer[1]))
        lb, zone = listener.lb, listener.zone
        plan = self._plans.get(lb)
        with self._stats_lock:
            self._listener_hits[(lb, key[0], key[1])] += 1
        flow = _FlowBuilder(lb=lb, zone=zone, listener=key, client=client)
        if plan is None:
            self._drop(flow, "no-plan")
            reset(writer)
            return
        target = self._pick(
            ("target", lb, zone if not plan.cross_zone else "*"), reachable_targets(plan, zone)
        )
        if target is None:
            self._drop(flow, "no-target")
            reset(writer)
            return
        flow.target = target.node
        with self._stats_lock:
            self._target_hits[(lb, target.node)] += 1
        if not target.reachable:
            self._drop(flow, "target-down")
            await self._refuse(reader, writer)
            return
        if is_hairpin(plan, client_ip=client[0], target=target):
            self._drop(flow, "hairpin")
            await _hold_silently(reader)
            reset(writer)
            return
        endpoint = self._pick(
            ("endpoint", lb, target.node, plan.traffic_policy), target_endpoints(plan, target)
        )
        if endpoint is None:
            reason = "no-local-endpoint" if plan.traffic_policy == "Local" else "no-ready-endpoint"
            self._drop(flow, reason)
            await self._refuse(reader, writer)
            return
        source = upstream_source(plan, client_ip=client[0], target=target, nlb_ip=key[0])
        flow.endpoint, flow.source_ip = (endpoint.ip, endpoint.port), source
        try:
            async with asyncio.timeout(self._connect_timeout):
                up_reader, up_writer = await asyncio.open_connection(
                    endpoint.ip, endpoint.port, local_addr=(source, 0)
                )
        except (OSError, TimeoutError) as exc:
            log.debug("NLB %s: %s:%s unreachable: %s", lb, endpoint.ip, endpoint.port, exc)
            self._drop(flow, "endpoint-unreachable")
            reset(writer)
            return
        with self._stats_lock:
            self._endpoint_hits[(lb, endpoint.ip, endpoint.port)] += 1
            self._flows.append(flow.build("forwarded"))
        if plan.proxy_protocol_v2:
            up_writer.write(proxy_v2_header(client=client, listener=key))
        await splice(reader, writer, up_reader, up_writer)

    def _pick(self, key: Hashable, candidates: Sequence[T]) -> T | None:
        if not candidates:
            return None
        counter = self._rr.setdefault(key, itertools.count())
        return candidates[next(counter) % len(candidates)]

    def _drop(self, flow: _FlowBuilder, reason: str) -> None:
        with self._stats_lock:
            self._dropped[(flow.lb, reason)] += 1
            self._flows.append(flow.build(reason))

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._no_endpoint == "blackhole":
            await _hold_silently(reader)
        reset(writer)


async def _hold_silently(reader: asyncio.StreamReader) -> None:
    """Answer nothing until the client gives up (what a dropped flow looks like to it)."""
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(_CHUNK):
            pass


@dataclass
class _FlowBuilder:
    lb: str
    zone: str
    listener: tuple[str, int]
    client: tuple[str, int]
    target: str | None = None
    endpoint: tuple[str, int] | None = None
    source_ip: str | None = None

    def build(self, outcome: str) -> Flow:
        return Flow(
            epoch_ns=time.time_ns(),
            lb=self.lb,
            zone=self.zone,
            listener=self.listener,
            client=self.client,
            target=self.target,
            endpoint=self.endpoint,
            source_ip=self.source_ip,
            outcome=outcome,
        )
