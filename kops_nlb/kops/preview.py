"""kops read-only: what ``create cluster`` would write, what ``update cluster`` would change, and a
short-lived admin kubeconfig to read the cluster with, none of which writes to the state store.

The kubeconfig lives in a private temporary directory removed on exit, never at the project's
kubeconfig path: making a plan leaves no file behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kops_nlb.core.kops import KopsResult
from kops_nlb.core.kops.argv import (
    create_cluster_dry_run_argv,
    temporary_kubecfg_argv,
    update_cluster_preview_argv,
)
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import commands


def _run(spec: EnvironmentSpec, state_store: str, argv: list[str], kubeconfig: str) -> KopsResult:
    return commands.run(spec, state_store, argv, logger=None, kubeconfig=kubeconfig)


@contextmanager
def _private_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kops-nlb-plan-") as directory:
        path = Path(directory)
        path.chmod(0o700)
        yield path


def cluster_known(spec: EnvironmentSpec, state_store: str) -> bool:
    """Tell whether the state store holds the spec's cluster (``kops get cluster``)."""
    with _private_dir() as directory:
        return commands.cluster_exists(spec, state_store, kubeconfig=str(directory / "k"))


def dry_run_create(spec: EnvironmentSpec, state_store: str, *, store_exists: bool = True) -> str:
    """Return what ``kops create cluster ... --dry-run -o json`` prints for the spec.

    kops reads the state store first (is there such a cluster?) and fails on a bucket that does
    not exist yet; the preview of a new cluster then runs against an empty private directory,
    which kops only reads.
    """
    with _private_dir() as directory:
        store = state_store
        if not store_exists:
            (directory / "state").mkdir(mode=0o700)
            store = (directory / "state").as_uri()
        argv = create_cluster_dry_run_argv(spec, store)
        return _run(spec, store, argv, str(directory / "kubeconfig")).stdout


def update_preview(spec: EnvironmentSpec, state_store: str) -> str:
    """Return what ``kops update cluster`` without ``--yes`` prints for the cluster."""
    with _private_dir() as directory:
        argv = update_cluster_preview_argv(spec, state_store)
        return _run(spec, state_store, argv, str(directory / "kubeconfig")).stdout


@contextmanager
def admin_kubeconfig(spec: EnvironmentSpec, state_store: str) -> Iterator[str]:
    """Yield the path of a 10-minute admin kubeconfig of the cluster, removed on exit."""
    with _private_dir() as directory:
        path = str(directory / "kubeconfig")
        _run(spec, state_store, temporary_kubecfg_argv(spec, state_store, path), path)
        yield path
