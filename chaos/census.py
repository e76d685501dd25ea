"""What exists on the twin for one cluster, counted by kind, and what is more than it should be."""

from __future__ import annotations

import time
from collections import Counter

from chaos.twin import ChaosTwin
from kops_nlb.aws.removal.inventory import survey
from kops_nlb.core.spec import EnvironmentSpec

CLUSTER_TAG = "KubernetesCluster"
ATTEMPTS = 10


def census(twin: ChaosTwin, spec: EnvironmentSpec) -> Counter[str]:
    """Return how many of each kind of resource is tagged for the cluster (or as ours).

    The count is the run's own observation, taken while the row's faults are on: a look-up that
    outlasts botocore's retries is tried again rather than failing the row.
    """
    for attempt in range(ATTEMPTS):
        try:
            return _count(twin, spec)
        except Exception:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _count(twin: ChaosTwin, spec: EnvironmentSpec) -> Counter[str]:
    counts = Counter({kind: len(found) for kind, found in survey(spec).items() if found})
    groups = twin.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    counts["auto_scaling_groups"] = sum(
        1
        for group in groups
        if any(t["Key"] == CLUSTER_TAG and t["Value"] == spec.cluster_name for t in group["Tags"])
    )
    return +counts


def excess(found: Counter[str], expected: Counter[str]) -> dict[str, int]:
    """Return the kinds with more resources than expected, and by how many (duplicates)."""
    return {kind: n - expected[kind] for kind, n in sorted(found.items()) if n > expected[kind]}


def describe(counts: Counter[str]) -> str:
    """Return counts as ``kind n, kind n`` (or ``none``)."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"
