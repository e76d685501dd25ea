"""Progress artifacts follow the waits' k-of-N counts, and never matter outside a run."""

from __future__ import annotations

import logging

from kops_nlb.core.waiting import Observation
from tasks._progress import on_progress, progress_reporter


def test_counts_become_percentages_and_ready_is_complete() -> None:
    seen: list[float] = []
    observe = on_progress(seen.append)
    observe(Observation(ready=False, done=0, total=3))
    observe(Observation(ready=False, done=1, total=3))
    observe(Observation(ready=False))  # no counts: nothing to show
    observe(Observation(ready=True, done=3, total=3))
    assert seen == [0.0, 33.3, 100.0]


def test_outside_a_run_reporting_is_a_no_op() -> None:
    report = progress_reporter(key="k", description="d", logger=logging.getLogger("t"))
    report(50.0)  # no flow or task run: no API call, no error
