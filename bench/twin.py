"""The local twin as the benchmarks use it: realistic latencies, a loopback range of its own, and
a timestamped log of every API call it serves, labelled with who made it.

Instrumentation only wraps things at run time (the AWS endpoint's WSGI app, the Kubernetes API's
call counter, the cloud controller's AWS helper); nothing in ``sandbox/`` is changed. Who made an
AWS call is told apart like this:

- ``product``: the flows' boto3 clients, which send ``kops-nlb-flows`` in their User-Agent
  (``kops_nlb/aws/client.py``);
- ``controller``: the real AWS cloud controller on each control plane (the Go SDK, signing
  with the twin's own key), and the AWS Load Balancer Controller's stand-in, counted by
  wrapping its one AWS helper;
- ``twin``: the rest of the twin's machinery (signing with its own key: the simulated
  instances' look-ups), left out;
- ``agent``: the twin's SSM agent looking up an instance's private address;
- ``kops``: everything else the endpoint served (the kops the product runs: real kops);
- ``bench``: this package's own look-ups (their User-Agent carries ``kops-nlb-bench``), left out.

Kubernetes calls are those clients send through the API front proxy (the flows and kops); the
simulated kubelets talk to the apiserver directly and are not counted.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.config import Config

from bench.calls import Call
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.aws import wire
from sandbox.aws.clients import twin_client
from sandbox.aws.server import INFRASTRUCTURE_ACCESS_KEY_ID
from sandbox.config import Delays, SandboxConfig
from sandbox.loopback import LoopbackRange
from sandbox.world import World

# The latencies of the real cloud the benchmarks simulate (seconds, before scaling).
REALISTIC_DELAYS = Delays(
    node_ready=60.0, nlb_active=30.0, target_healthy=20.0, ssm_online=20.0, ssm_command=0.0
)
PRODUCT_USER_AGENT = "kops-nlb-flows"
BENCH_USER_AGENT = "kops-nlb-bench"
GO_SDK_USER_AGENT = "aws-sdk-go-v2/"
CLUSTER_NAME = "bench.k8s.local"
KUBE_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CallLog:
    """A thread-safe, append-only list of calls."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        """Record one call."""
        with self._lock:
            self._calls.append(call)

    def snapshot(self) -> list[Call]:
        """Return every call recorded so far, oldest first."""
        with self._lock:
            return sorted(self._calls, key=lambda c: c.at)


def camel_operation(snake: str) -> str:
    """Return the AWS operation of a boto3 method (``describe_tags`` -> ``DescribeTags``)."""
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def scaled_delays(scale: float, *, nlb_at_once: bool = False) -> Delays:
    """Return the realistic latencies x `scale`; with `nlb_at_once`, load balancers are active
    as soon as they are created.

    kops waits for its API load balancer with the AWS SDK's waiter, which sleeps at least 15 s
    between looks: at a tiny scale that one wait would be most of a provision.
    """
    delays = REALISTIC_DELAYS.scaled(scale)
    return replace(delays, nlb_active=0.0) if nlb_at_once else delays


def twin_config(*, delays: Delays, loopback: LoopbackRange) -> SandboxConfig:
    """Return the twin's config: the given latencies, free ports, our loopback range."""
    return SandboxConfig.instant(
        vpc_cidr=loopback.vpc_cidr, pod_cidr=loopback.pod_cidr, delays=delays
    )


def bench_spec(home: Path) -> EnvironmentSpec:
    """Return the environment the benchmarks provision: the product's defaults (waits included)."""
    return EnvironmentSpec(cluster_name=CLUSTER_NAME)


@dataclass
class Twin:
    """A running world, its call log, and the spec aimed at it."""

    world: World
    calls: CallLog
    home: Path
    spec: EnvironmentSpec
    started: float = field(default_factory=time.time)

    def aws_client(self, service: str) -> Any:
        """Return a boto3 client for the benchmark's own look-ups (left out of the call counts)."""
        return twin_client(
            service,
            region=self.world.config.region,
            endpoint_url=self.world.aws.url,
            access_key_id="twin",
            secret_access_key="twin",
            config=Config(user_agent_extra=BENCH_USER_AGENT),
        )


class _TimedCounter(Counter[tuple[str, str]]):
    """A Counter that reports every increment (the Kubernetes API counts calls in one)."""

    def __init__(self, on_increment: Callable[[tuple[str, str]], None]) -> None:
        self._on_increment = on_increment
        super().__init__()

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        before = self.get(key, 0)
        super().__setitem__(key, value)
        if value > before:
            self._on_increment(key)


def _kube_origin(method: str, resource: str) -> str:
    if method in ("POST", "PATCH") and resource.startswith("v1/nodes"):
        return "kubelet"
    return "client"


def _count_kube_calls(world: World, calls: CallLog) -> None:
    def on_increment(key: tuple[str, str]) -> None:
        method, resource = key
        calls.add(
            Call(
                at=time.time(),
                api="kube",
                origin=_kube_origin(method, resource),
                service=resource,
                operation=method,
                write=method in KUBE_WRITE_METHODS,
            )
        )

    counter = _TimedCounter(on_increment)
    world.api_proxy.call_counts = counter


def _tap_aws(world: World, calls: CallLog) -> None:
    server: Any = world.aws._server
    inner = server.app

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return inner(environ, start_response)
        body: bytes | None = None
        if wire.needs_body(environ):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
        call = wire.identify(environ, body)
        origin = _aws_origin(environ)
        calls.add(Call(time.time(), "aws", origin, call.service, call.operation, call.is_write))
        return inner(environ, start_response)

    server.app = serve


def _aws_origin(environ: Mapping[str, Any]) -> str:
    agent = str(environ.get("HTTP_USER_AGENT", ""))
    if PRODUCT_USER_AGENT in agent:
        return "product"
    if BENCH_USER_AGENT in agent:
        return "bench"
    if f"Credential={INFRASTRUCTURE_ACCESS_KEY_ID}/" in str(environ.get("HTTP_AUTHORIZATION", "")):
        return "controller" if GO_SDK_USER_AGENT in agent else "twin"
    return "other"


def _wrap_controller(world: World, calls: CallLog) -> None:
    controller: Any = world.controller
    inner = controller._call

    def counted(service: str, operation: str, **kwargs: Any) -> Any:
        started = time.time()
        name = camel_operation(operation)
        try:
            return inner(service, operation, **kwargs)
        finally:
            write = wire.is_write_operation(name)
            ended = time.time()
            calls.add(Call(started, "aws", "controller", service, name, write, ended, wrapped=True))

    controller._call = counted


def _wrap_agent(world: World, calls: CallLog) -> None:
    inner = world._private_ip

    def counted(instance_id: str) -> str | None:
        calls.add(
            Call(time.time(), "aws", "agent", "ec2", "DescribeInstances", False, wrapped=True)
        )
        return inner(instance_id)

    world._private_ip = counted  # type: ignore[method-assign]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_twin(
    *, delays: Delays, loopback: LoopbackRange, home: Path, name: str
) -> Iterator[Twin]:
    """Start a world with the given latencies, point this process at it, and yield it.

    moto's state is process-wide, so it is reset when the world stops: the next one starts empty.
    """
    world_home = home / name
    world = World(twin_config(delays=delays, loopback=loopback), world_home)
    calls = CallLog()
    _count_kube_calls(world, calls)
    endpoints = world.start()
    try:
        _tap_aws(world, calls)
        _wrap_controller(world, calls)
        _wrap_agent(world, calls)
        env = {
            **endpoints.client_env(),
            "PATH": f"{endpoints.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "SANDBOX_KOPS_ARGV_LOG": str(world_home / "kops-argv.jsonl"),
            "KOPS_NLB_KUBECONFIG_DIR": str(world_home / "kube"),
        }
        with environment(env):
            yield Twin(world=world, calls=calls, home=world_home, spec=bench_spec(world_home))
    finally:
        world.stop()
        world.aws.reset()
