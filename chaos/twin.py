"""One twin for the whole chaos run: its own loopback range, this process pointed at it, a
distinctive secret in the worker's environment, and faults switched at run time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3

from sandbox.config import Faults, SandboxConfig
from sandbox.world import World

# Twins of tests and benchmarks take ranges up to 127.249 (sandbox/loopback.py); chaos takes 250-251.
OCTET = 250
LOCK_FILE = Path("/tmp/kops-nlb-chaos.lock")
KUBE_READS = frozenset({"GET", "HEAD"})


@dataclass
class ChaosTwin:
    """The running world, where it keeps its files, and the secret the worker holds."""

    world: World
    home: Path
    secret: str
    env: dict[str, str]

    @property
    def argv_log(self) -> Path:
        """Every kops command line the twin's kops ran, one JSON list per line."""
        return self.home / "kops-argv.jsonl"

    def kops_lines(self) -> list[str]:
        """Return the kops command lines run so far."""
        return self.argv_log.read_text().splitlines() if self.argv_log.exists() else []

    def set_faults(self, faults: Faults) -> None:
        """Switch the world's faults: AWS, Kubernetes, kops (its config file) and the agent."""
        self.world.config = replace(self.world.config, faults=faults)
        (self.home / "config.toml").write_text(self.world.config.to_toml())
        self.world.aws.set_faults(faults.aws())
        self.world.api_proxy.fault_5xx_rate = faults.kube_5xx_rate

    def writes(self) -> Counter[str]:
        """Return every write served so far: AWS operations, Kubernetes requests, kops runs."""
        counts: Counter[str] = Counter()
        for (service, operation), n in self.world.aws.write_counts().items():
            counts[f"aws {service}:{operation}"] += n
        for (method, resource), n in self.world.api_proxy.call_counts.items():
            if method not in KUBE_READS:
                counts[f"kube {method} {resource}"] += n
        counts["kops runs"] = len(self.kops_lines())
        return counts

    def client(self, service: str) -> Any:
        """Return a boto3 client on the twin for the run's own look-ups and set-ups."""
        session: Any = boto3.session.Session(
            region_name=self.world.config.region,
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
        )
        return session.client(service, endpoint_url=self.world.aws.url)


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
def running_twin(home: Path) -> Iterator[ChaosTwin]:
    """Start the world (one chaos run at a time), point this process at it, and yield it."""
    with open(LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise SystemExit(f"another chaos run holds {LOCK_FILE}") from exc
        # The emulated kops: the fault rows were last run against it (with real kops, Auto
        # Scaling launches the cluster's instances inside moto, where the capacity knob reaches
        # only the product's own bastion launch).
        config = SandboxConfig.instant(
            vpc_cidr=f"127.{OCTET}.0.0/16", pod_cidr=f"127.{OCTET + 1}.0.0/16", kops="emulated"
        )
        world = World(config, home)
        endpoints = world.start()
        secret = f"chaos-secret-{secrets.token_hex(12)}"
        env = {
            **endpoints.client_env(),
            "AWS_SECRET_ACCESS_KEY": secret,
            "PATH": f"{endpoints.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "SANDBOX_KOPS_ARGV_LOG": str(home / "kops-argv.jsonl"),
            "KOPS_NLB_KUBECONFIG_DIR": str(home / "kube"),
        }
        try:
            with environment(env):
                yield ChaosTwin(world=world, home=home, secret=secret, env=env)
        finally:
            world.stop()
            world.aws.reset()
