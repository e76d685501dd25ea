"""Run parameters that would run a program, write a file or claim another cluster's resources are
refused by the flow itself, before any AWS call, Kubernetes request or kops command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError

from flows.provision import provision
from sandbox.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


def _kops_runs(world: World) -> int:
    log = Path(world.home) / "kops-argv.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.parametrize(
    ("hostile", "message"),
    [
        ({"kops_executable": "/bin/sh"}, "kops_executable is not a run parameter"),
        ({"kubeconfig_path": "/etc/cron.d/x"}, "kubeconfig_path is not a run parameter"),
        ({"extra_tags": {"KubernetesCluster": "other"}}, "'KubernetesCluster' is reserved"),
    ],
)
def test_hostile_parameters_are_refused_before_anything_is_written(
    twin: World, hostile: dict[str, Any], message: str
) -> None:
    aws_writes, kube_calls, kops_runs = (
        twin.aws.write_counts(),
        sum(twin.api_proxy.call_counts.values()),
        _kops_runs(twin),
    )
    parameters = {"cluster_name": "hostile.k8s.local", **hostile}
    with pytest.raises(ParameterTypeError, match=message):
        provision(spec=json.loads(json.dumps(parameters)))
    assert twin.aws.write_counts() == aws_writes
    assert sum(twin.api_proxy.call_counts.values()) == kube_calls
    assert _kops_runs(twin) == kops_runs
