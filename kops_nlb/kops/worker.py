"""Where this worker keeps kops and the admin kubeconfigs: worker settings, never run parameters.

Anyone allowed to start a run sets its parameters, so a parameter must not choose a program to
run or a file to write. These two come from the worker's environment instead (the work pool's
job variables), the way boto3 takes its endpoint and credentials from it.
"""

from __future__ import annotations

import os
from pathlib import Path

KOPS_EXECUTABLE_ENV = "KOPS_NLB_KOPS"
KUBECONFIG_DIR_ENV = "KOPS_NLB_KUBECONFIG_DIR"
DEFAULT_KUBECONFIG_DIR = ".kube"


def kops_executable() -> str:
    """Return the kops this worker runs: ``$KOPS_NLB_KOPS``, else ``kops`` on PATH."""
    return os.environ.get(KOPS_EXECUTABLE_ENV) or "kops"


def kubeconfig_file(cluster_name: str) -> Path:
    """Return the absolute path of the cluster's admin kubeconfig, its folder made with mode 0700.

    The file is ``<cluster>.yaml`` in ``$KOPS_NLB_KUBECONFIG_DIR`` (default ``.kube`` in the
    working directory); the cluster name is a validated DNS subdomain, so it cannot leave it.
    """
    folder = Path(os.environ.get(KUBECONFIG_DIR_ENV) or DEFAULT_KUBECONFIG_DIR).expanduser()
    path = (folder / f"{cluster_name}.yaml").absolute()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
