"""A probe command judged from what SSM reports (pure)."""

from __future__ import annotations

import pytest
from prefect.cache_policies import NO_CACHE

from kops_nlb.core.spec import PollPolicy
from tasks._options import RETRIES, retry_on_transient
from tasks.probe import ProbeRun, run_probe

pytestmark = pytest.mark.usefixtures("no_run_logger")

INSTANCE = "i-0123456789abcdef0"
COMMANDS = ["probe_token=0123456789ab", "printf 'PROBE-DONE %s %s\\n' \"$probe_token\" 0"]
FAST = PollPolicy(initial=0.001, factor=1, cap=0.001)


def probe(timeout_s: int = 120) -> ProbeRun:
    """Call the task's function directly."""
    return run_probe.fn(
        region="ap-northeast-1",
        instance_id=INSTANCE,
        commands=COMMANDS,
        timeout_s=timeout_s,
        poll=FAST,
    )


def test_task_options() -> None:
    """Retried only on transient failures, never cached (a probe is a side effect)."""
    assert run_probe.retries == RETRIES
    assert run_probe.retry_condition_fn is retry_on_transient
    assert run_probe.cache_policy is NO_CACHE
    assert run_probe.name == "run-probe"
