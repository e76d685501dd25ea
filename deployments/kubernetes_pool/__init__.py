"""The `kops-nlb-k8s` work pool: its base job template, RBAC and the check of the Job it submits
(`job.py`). The local stack creates the pool so that `prefect deploy --all` registers its
deployments; their runs wait for a Kubernetes worker in the team's cluster."""

from __future__ import annotations

from pathlib import Path

POOL = "kops-nlb-k8s"
POOL_TYPE = "kubernetes"
TEMPLATE = Path(__file__).resolve().parent / "base-job-template.json"
RBAC = Path(__file__).resolve().parent / "rbac.yaml"
