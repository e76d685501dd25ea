"""Running the real kops binary that `make upstream` builds, against the twin's AWS.

The binary and the channel file live in a cache outside git, keyed by kops version. The Makefile
exports their paths (``KOPS_NLB_KOPS_BIN``, ``KOPS_NLB_KOPS_CHANNEL``); run directly, pytest
falls back to the same default locations. Nothing here skips: a missing binary is an error that
says how to build it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KOPS_VERSION = "1.36.2"
REGION = "ap-northeast-1"
BIN_ENV = "KOPS_NLB_KOPS_BIN"
CHANNEL_ENV = "KOPS_NLB_KOPS_CHANNEL"
STATE_ACCESS_KEY = "testing"  # kops insists on S3 credentials whenever S3_ENDPOINT is set
KOPS_TIMEOUT = 120.0
# Whatever kops would fetch from the internet (image digests on registry.k8s.io, say) goes to a
# closed loopback port instead: no lookup or connection leaves the machine.
DEAD_PROXY = "http://127.0.0.1:9"
LOOPBACK = "127.0.0.1,localhost"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kops-nlb-flows"


def binary_path() -> Path:
    """Where `make upstream` puts real kops (``KOPS_NLB_KOPS_BIN`` overrides)."""
    return Path(os.environ.get(BIN_ENV) or _cache_dir() / "bin" / f"kops-{KOPS_VERSION}")


def channel_path() -> Path:
    """Where `make upstream` copies the module's ``channels/stable`` file."""
    default = _cache_dir() / "share" / f"kops-{KOPS_VERSION}" / "channels" / "stable"
    return Path(os.environ.get(CHANNEL_ENV) or default)


class RealKopsMissing(RuntimeError):
    """The real kops binary (or its channel file) has not been built."""


def require_built() -> tuple[Path, Path]:
    """Return (binary, channel) or raise RealKopsMissing naming the command that builds them."""
    binary, channel = binary_path(), channel_path()
    missing = [str(path) for path in (binary, channel) if not path.is_file()]
    if missing:
        raise RealKopsMissing(
            f"real kops {KOPS_VERSION} is not built ({', '.join(missing)} missing): run "
            "`make upstream` (or `make test`, which depends on it)"
        )
    return binary, channel


@dataclass(frozen=True)
class Run:
    """One kops run: argv (without the program), exit code, stdout, stderr."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def explain(self) -> str:
        """Return the run for an assertion message: the command line and kops's own words.

        kops's ``Error: ...`` lines come first (cobra prints the whole usage after an unknown
        flag's error), then the end of stderr.
        """
        errors = [line for line in self.err.splitlines() if line.startswith("Error:")]
        return (
            f"kops {' '.join(self.argv)}\nexit {self.code}\n"
            + "".join(f"{line}\n" for line in errors)
            + f"stderr (end):\n{self.err[-3000:]}"
        )


def environment(*, aws_url: str, region: str, home: Path) -> dict[str, str]:
    """Return the environment real kops needs to use the twin's AWS and S3 (and nothing else)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": str(home / ".kube" / "config"),
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": STATE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": STATE_ACCESS_KEY,
        "S3_ENDPOINT": aws_url,
        "S3_REGION": region,
        "S3_ACCESS_KEY_ID": STATE_ACCESS_KEY,
        "S3_SECRET_ACCESS_KEY": STATE_ACCESS_KEY,
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "NO_PROXY": LOOPBACK,
    }


def run(binary: Path, argv: Sequence[str], env: Mapping[str, str]) -> Run:
    """Run real kops with ``argv`` and return what it did."""
    done = subprocess.run(
        [str(binary), *argv],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=KOPS_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Run(tuple(argv), done.returncode, done.stdout, done.stderr)


def dry_run_argv(create_argv: Sequence[str], channel: Path) -> list[str]:
    """Turn the product's ``create cluster ... --yes`` into a dry run that prints YAML.

    The product's argv ends with ``--yes`` (apply now); a dry run must not apply, so that one
    trailing ``--yes`` is dropped and ``--dry-run -o yaml`` added, with the local channel file in
    place of the channel kops would fetch from the internet.
    """
    argv = list(create_argv)
    if argv[:2] != ["create", "cluster"] or argv[-1] != "--yes":
        raise ValueError(f"not a `create cluster ... --yes` argv: {argv}")
    return [*argv[:-1], "--dry-run", "-o", "yaml", "--channel", channel.resolve().as_uri()]


@dataclass(frozen=True)
class RealKops:
    """The real kops binary with the local channel file, ready to run against the twin."""

    binary: Path
    channel: Path
    env: dict[str, str]

    def __call__(self, *argv: str) -> Run:
        return run(self.binary, argv, self.env)
