"""The local twin for end-to-end tests: one world per session, reached only by standard switches."""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest

from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts
from sandbox.config import SandboxConfig
from sandbox.world import World
from tests import loopback


@pytest.fixture(scope="session")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A running twin, with this process's environment pointed at it like `.sandbox/env` does."""
    home = tmp_path_factory.mktemp("twin")
    # Loopback ranges of their own, so that test sessions running side by side never collide.
    addresses = loopback.claim()
    config = SandboxConfig.instant(vpc_cidr=addresses.vpc_cidr, pod_cidr=addresses.pod_cidr)
    # Health checks on a fast but real clock (a 10 s interval lasts 0.2 s), so the target
    # group's settings decide how long a lost node keeps receiving traffic.
    config = replace(config, delays=replace(config.delays, target_healthy=0.4))
    world = World(config, home)
    endpoints = world.start()
    # What is loaded by now (moto's data, botocore's models, Prefect) lives as long as the
    # worker: out of the cyclic collector's way, full collections stop walking it again and again.
    gc.collect()
    gc.freeze()
    patch = pytest.MonkeyPatch()
    for name, value in endpoints.client_env().items():
        patch.setenv(name, value)
    # A distinctive secret, so tests can prove it never reaches logs, artifacts or results.
    patch.setenv("AWS_SECRET_ACCESS_KEY", f"e2e-secret-{secrets.token_hex(8)}")
    patch.setenv("SANDBOX_KOPS_ARGV_LOG", str(home / "kops-argv.jsonl"))
    patch.setenv("PATH", f"{endpoints.bin_dir}{os.pathsep}{os.environ['PATH']}")
    patch.setenv("KOPS_NLB_KUBECONFIG_DIR", str(home / "kube"))  # the worker's setting
    try:
        yield world
    finally:
        patch.undo()
        world.stop()


@pytest.fixture(scope="session")
def spec(twin: World) -> EnvironmentSpec:
    """The procedure's environment, with waits sized for the twin's instant clock."""
    return EnvironmentSpec(
        cluster_name="e2e.k8s.local",
        timeouts=Timeouts(
            cluster_valid=60,
            deployment_ready=60,
            service_hostname=60,
            nlb_active=60,
            targets_healthy=60,
            bastion_online=60,
            kops_command=120,
        ),
        poll=PollPolicy(initial=0.1, factor=1.5, cap=0.5),
    )
