"""Teardown's guards and its tolerance of a cluster whose API no longer answers."""

from __future__ import annotations

import pytest
from prefect import flow, task

import flows.teardown as teardown_flow
from kops_nlb.core.errors import SpecError
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec

SPEC = EnvironmentSpec()


def test_a_wrong_confirmation_is_refused() -> None:
    with pytest.raises(SpecError, match="does not match"):
        teardown_flow.check_confirmation(SPEC, "other.k8s.local")
    teardown_flow.check_confirmation(SPEC, SPEC.cluster_name)


@task
def exported(spec: EnvironmentSpec, state_store: str) -> None:
    return None


@task
def unreachable(spec: EnvironmentSpec, kubeconfig: str) -> list[StepResult]:
    raise ConnectionRefusedError("connection refused by 127.0.0.1:6443")


@pytest.mark.usefixtures("prefect_harness")
def test_an_unreachable_cluster_api_does_not_stop_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teardown_flow, "export_kubeconfig", exported)
    monkeypatch.setattr(teardown_flow, "delete_workload", unreachable)

    @flow
    def step_only() -> list[StepResult]:
        return teardown_flow._delete_workload_best_effort(SPEC, "s3://bucket")

    [left] = step_only()
    assert left.left
    assert "connection refused" in left.summary
