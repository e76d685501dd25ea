"""Verify sends the probe once more, with a new token, when SSM lost the first command, and
only then."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow, task

import flows.verify as verify_flow
from kops_nlb.core.bastion import BastionInfo
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.probe_run import ProbeCommandFailed, ProbeRun, invocation_observation
from kops_nlb.core.verify.probe_script import ProbeTarget

SPEC = EnvironmentSpec()
BASTION = BastionInfo(
    instance_id="i-0b", private_ip="10.0.0.9", subnet_id="subnet-1", availability_zone="a"
)
TARGETS = [ProbeTarget(label="dns", host="a1.elb.example")]


def ended(details: str, status: str = "TimedOut") -> ProbeCommandFailed:
    invocation = {"CommandId": "c-1", "Status": status, "StatusDetails": details}
    with pytest.raises(ProbeCommandFailed) as raised:
        invocation_observation(invocation, command_id="c-1", instance_id="i-0b")
    return raised.value


def test_a_command_ssm_lost_is_told_from_one_the_script_failed() -> None:
    assert ended("DeliveryTimedOut").lost and ended("ExecutionTimedOut").lost
    assert not ended("Failed", status="Failed").lost
    assert not ended("Cancelled", status="Cancelled").lost


def outcome(commands: list[str]) -> ProbeRun:
    return ProbeRun(
        command_id="c-2",
        instance_id="i-0b",
        status="Success",
        status_details="Success",
        response_code=0,
        stdout="\n".join(commands),
        stderr="",
        truncated=False,
        stderr_truncated=False,
        started_at=None,
        finished_at=None,
    )


def probing(failures: list[ProbeCommandFailed], sent: list[list[str]]) -> Any:
    @task
    def fake_run_probe(**kwargs: Any) -> ProbeRun:
        sent.append(kwargs["commands"])
        if failures:
            raise failures.pop(0)
        return outcome(kwargs["commands"])

    return fake_run_probe


@pytest.mark.usefixtures("prefect_harness")
def test_a_lost_probe_is_sent_again_with_a_new_token(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[list[str]] = []
    monkeypatch.setattr(verify_flow, "run_probe", probing([ended("DeliveryTimedOut")], sent))

    @flow
    def probe_only() -> tuple[str, ProbeRun]:
        return verify_flow._probe(SPEC, BASTION, TARGETS, 1, 10.0)

    token, run = probe_only()
    assert len(sent) == 2
    first, second = ("\n".join(commands) for commands in sent)
    assert token in second and token not in first  # only the second run's requests count
    assert run.stdout == second


@pytest.mark.usefixtures("prefect_harness")
def test_a_probe_the_script_failed_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[list[str]] = []
    failed = ended("Failed", status="Failed")
    monkeypatch.setattr(verify_flow, "run_probe", probing([failed], sent))

    @flow
    def probe_only() -> tuple[str, ProbeRun]:
        return verify_flow._probe(SPEC, BASTION, TARGETS, 1, 10.0)

    with pytest.raises(ProbeCommandFailed):
        probe_only()
    assert len(sent) == 1


@pytest.mark.usefixtures("prefect_harness")
def test_a_probe_lost_twice_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[list[str]] = []
    lost = [ended("ExecutionTimedOut"), ended("DeliveryTimedOut")]
    monkeypatch.setattr(verify_flow, "run_probe", probing(lost, sent))

    @flow
    def probe_only() -> tuple[str, ProbeRun]:
        return verify_flow._probe(SPEC, BASTION, TARGETS, 1, 10.0)

    with pytest.raises(ProbeCommandFailed, match="DeliveryTimedOut"):
        probe_only()
    assert len(sent) == 2
