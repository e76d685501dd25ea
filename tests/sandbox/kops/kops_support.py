"""Helpers shared by the kops twin's tests."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sandbox.config import Delays, Faults, SandboxConfig
from sandbox.kops.cli import main

REGION = "ap-northeast-1"
ZONES = ("ap-northeast-1a", "ap-northeast-1c")


@dataclass(frozen=True)
class Run:
    """One kops command line's outcome."""

    code: int
    out: str
    err: str


class Kops:
    """Runs ``kops ARGS`` in this process with the fixtures' environment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Run:
        with self._monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            out, err = io.StringIO(), io.StringIO()
            code = main(list(args), stdout=out, stderr=err, sleep=lambda _s: None)
        return Run(code, out.getvalue(), err.getvalue())


def create_args(name: str, state: str, *extra: str) -> list[str]:
    """Return the create-cluster command line the product passes (two zones, private)."""
    return [
        "create", "cluster", name, "--state", state, "--cloud", "aws",
        "--zones", ",".join(ZONES), "--control-plane-zones", ZONES[0],
        "--control-plane-size", "t3.medium", "--control-plane-count", "1",
        "--node-size", "t3.medium", "--node-count", "2", "--node-volume-size", "20",
        "--kubernetes-version", "1.35.0", "--networking", "calico", "--topology", "private",
        "--dns", "none", *extra,
    ]  # fmt: skip


def configure_twin(path: Path, *, node_ready: float = 0.0, flaps: int = 0) -> None:
    """Rewrite the twin's config: no delays but ``node_ready``, ``flaps`` validation flaps."""
    no_delays = Delays(**{name: 0.0 for name in Delays.__dataclass_fields__})
    config = replace(
        SandboxConfig.instant(),
        delays=replace(no_delays, node_ready=node_ready),
        faults=replace(Faults(), validate_flaps=flaps),
    )
    path.write_text(config.to_toml())
