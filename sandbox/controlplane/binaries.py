"""Where the control plane's real programs are: built by ``make upstream``, cached by version."""

from __future__ import annotations

import dataclasses
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "1.36.3"
ETCD_VERSION = "3.6.16"
CLOUD_CONTROLLER_VERSION = "1.36.2"  # cloud-provider-aws
BIN_DIR_ENV = "KOPS_NLB_UPSTREAM_BIN"


class MissingBinary(RuntimeError):
    """A program the control plane runs was never built."""


def cache_root() -> Path:
    """Return the project's cache outside git (``$XDG_CACHE_HOME/kops-nlb-flows``, the Makefile's)."""
    # The account's own home, not $HOME: kops runs (and tests) give HOME a private directory.
    home = pwd.getpwuid(os.getuid()).pw_dir
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path(home) / ".cache")
    return Path(cache) / "kops-nlb-flows"


def bin_dir() -> Path:
    """Return the cache of built programs (``$KOPS_NLB_UPSTREAM_BIN``, else the Makefile's default)."""
    if os.environ.get(BIN_DIR_ENV):
        return Path(os.environ[BIN_DIR_ENV])
    return cache_root() / "bin"


@dataclass(frozen=True)
class Binaries:
    """The programs of a control plane."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    cloud_controller_manager: Path

    @classmethod
    def find(cls, directory: Path | None = None) -> Binaries:
        """Return the cached programs; raise ``MissingBinary`` naming the first that is absent."""
        where = directory or bin_dir()
        found = cls(
            etcd=where / f"etcd-{ETCD_VERSION}",
            kube_apiserver=where / f"kube-apiserver-{KUBERNETES_VERSION}",
            kube_controller_manager=where / f"kube-controller-manager-{KUBERNETES_VERSION}",
            kube_scheduler=where / f"kube-scheduler-{KUBERNETES_VERSION}",
            cloud_controller_manager=where
            / f"aws-cloud-controller-manager-{CLOUD_CONTROLLER_VERSION}",
        )
        for path in dataclasses.astuple(found):
            if not os.access(path, os.X_OK):
                raise MissingBinary(f"{path} is missing: run `make upstream` to build it")
        return found
