"""How far back the pod logs are read after a probe (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kops_nlb.core.verify.probe_run import since_seconds


def test_since_seconds_covers_the_window_and_the_skew() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert since_seconds(now - timedelta(seconds=10), now) == 15
    assert since_seconds(now, now) == 5
