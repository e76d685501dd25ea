"""The SSM agent's bad days in the twin: slow to show an invocation, slow to pick it up, and a
connection that drops mid-command (``PingStatus`` ``ConnectionLost`` until it reconnects).

Process-wide, like moto's state; ``configure`` sets every knob at once.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Settings:
    invocation_visible_after: float = 0.0
    command_pickup_delay: float = 0.0
    connection_lost_rate: float = 0.0
    connection_lost_seconds: float = 0.0
    random: random.Random = field(default_factory=random.Random)
    lost_until: dict[str, float] = field(default_factory=dict)
    """instance id -> monotonic time its agent reconnects"""


settings = _Settings()


def configure(
    *,
    invocation_visible_after: float,
    command_pickup_delay: float,
    connection_lost_rate: float = 0.0,
    connection_lost_seconds: float = 0.0,
    seed: int = 0,
) -> None:
    """Set the SSM fault knobs (process-wide, like moto's state)."""
    settings.invocation_visible_after = invocation_visible_after
    settings.command_pickup_delay = command_pickup_delay
    settings.connection_lost_rate = connection_lost_rate
    settings.connection_lost_seconds = connection_lost_seconds
    settings.random = random.Random(seed)
    settings.lost_until.clear()


def connection_lost(instance_id: str) -> bool:
    """Tell whether the instance's agent is disconnected right now (a ConnectionLost fault)."""
    return time.monotonic() < settings.lost_until.get(instance_id, 0.0)


def maybe_lose_connection(instance_id: str) -> float:
    """Drop the agent's connection for a while, at the configured rate; return the seconds."""
    rate, seconds = settings.connection_lost_rate, settings.connection_lost_seconds
    if rate <= 0 or seconds <= 0 or settings.random.random() >= rate:
        return 0.0
    settings.lost_until[instance_id] = time.monotonic() + seconds
    log.info("SSM agent of %s lost its connection for %.1f s", instance_id, seconds)
    return seconds


def reconnected_in(instance_id: str) -> float:
    """Return the seconds until the instance's agent is connected again (0 when it is)."""
    return max(0.0, settings.lost_until.get(instance_id, 0.0) - time.monotonic())
