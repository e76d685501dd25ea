"""The machinery of the stack tests: a whole stack (`python -m deployments.stack`) in temporary
directories, on free ports and loopback ranges of its own, never the user's demo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.stack import procs
from deployments.stack.settings import Stack
from sandbox.config import SandboxConfig
from sandbox.controlplane.boot import free_port
from tests import loopback

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SLUG = "nlb-local-k8s-local"


@dataclass
class StackUnderTest:
    """A stack in temporary directories, and the output of its first `demo`."""

    env: dict[str, str]
    stack: Stack
    first_demo: subprocess.CompletedProcess[str] | None = None
    seen: list[procs.ProcessInfo] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployments.stack", *args],
            check=False,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def parts(self) -> list[procs.ProcessInfo]:
        """The stack's live twin, server, worker and PostgreSQL (if it has one) processes."""
        return [
            info
            for pid_file, matches in (
                (self.stack.twin_pid_file, procs.is_twin),
                (self.stack.server_pid_file, procs.is_server),
                (self.stack.worker_pid_file, procs.is_worker),
                (self.stack.postgres_pid_file, procs.is_postgres),
            )
            if (info := procs.owned(pid_file, self.stack, matches)) is not None
        ]

    def running(self) -> list[procs.ProcessInfo]:
        """The stack's live processes and all their descendants."""
        parts = self.parts()
        return parts + [child for info in parts for child in procs.descendants(info.pid)]

    @contextmanager
    def client(self) -> Iterator[Any]:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings(updates={PREFECT_API_URL: self.stack.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def stack_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a stack under `tmp`: its PREFECT_HOME, a free API port, its twin's home
    and a twin config with instant delays on loopback ranges of its own."""
    # The twin picks its own ports and endpoints.json tells the stack where it listens.
    addresses = loopback.claim()
    twin = SandboxConfig.instant(vpc_cidr=addresses.vpc_cidr, pod_cidr=addresses.pod_cidr)
    (tmp / "sandbox.toml").write_text(twin.to_toml())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SANDBOX_", "STACK_", "PG"))
    }
    return env | {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_API_PORT": str(free_port()),
        "SANDBOX_HOME": str(tmp / "sandbox"),
        "SANDBOX_CONFIG": str(tmp / "sandbox.toml"),
        **extra,
    }


@contextmanager
def demo_stack(env: dict[str, str]) -> Iterator[StackUnderTest]:
    """Run `demo` on the stack `env` describes; yield it; `down` it in the end."""
    under_test = StackUnderTest(env=env, stack=Stack.from_env(env, root=ROOT))
    try:
        under_test.first_demo = under_test.run("demo", timeout=480)
        under_test.seen = under_test.running()
        yield under_test
    finally:
        under_test.run("down")
