"""Stopping a twin's parts: every one of them, even when stopping one before it fails.

A part left running outlives the twin: a control plane's programs, a listening socket that the
next twin on the same addresses cannot take.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def stop_each(*stops: Callable[[], object]) -> None:
    """Call every stop in order; then raise the first failure (later ones are logged)."""
    failure: Exception | None = None
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - re-raised once every part was stopped
            if failure is None:
                failure = exc
            else:
                log.warning(
                    "stopping failed again (%s): %s", getattr(stop, "__qualname__", stop), exc
                )
    if failure is not None:
        raise failure
