"""Waiting in a paused flow run for a person's answer in the Prefect UI."""

from __future__ import annotations

from typing import TypeVar

from prefect.flow_runs import pause_flow_run
from prefect.input.run_input import RunInput

# How often the paused run looks for the answer (Prefect's default is every 10 s): an answer
# takes effect within this, for one read of the flow run per look.
ANSWER_POLL_S = 2
# How long a run waits for an answer before it ends without writing anything.
APPROVAL_TIMEOUT_S = 3600

Answer = TypeVar("Answer", bound=RunInput)


def wait_for_answer(question: type[Answer], *, timeout_s: int) -> Answer:
    """Pause until a person answers `question` (a RunInput form); raise FlowPauseTimeout if
    nobody does within `timeout_s`."""
    answer: Answer = pause_flow_run(
        wait_for_input=question, timeout=timeout_s, poll_interval=ANSWER_POLL_S
    )
    return answer
