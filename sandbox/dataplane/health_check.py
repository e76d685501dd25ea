"""The NLB's health checks: each registered target probed as its target group says.

Every ``interval`` seconds a target is probed on its node's address: HTTP ``GET <path>`` on the
check port (healthy on 200-399, as an NLB's HTTP check matches by default) or a TCP handshake.
``healthy_threshold`` passes in a row make a target healthy (a new one starts ``initial``),
``unhealthy_threshold`` failures in a row make it unhealthy. A target that leaves its group
stays ``draining`` for the group's deregistration delay and receives no new connections.

The twin runs AWS's clock faster: one health-check second lasts ``second`` real seconds, so a
group's 10 s interval and thresholds of 2 take ``20 * second`` to turn a target healthy or
unhealthy, and changing the group's settings changes that time in proportion.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

TargetHealth = tuple[str, str | None, str | None]  # State, Reason, Description
MIN_INTERVAL = 0.05  # real seconds: the floor of a scaled interval
MIN_TIMEOUT = 0.05
MAX_TIMEOUT = 2.0
_TICK = 0.05

NOT_REGISTERED: TargetHealth = ("unavailable", "Target.NotRegistered", "Target is not registered")
_INITIAL: TargetHealth = (
    "initial",
    "Elb.RegistrationInProgress",
    "Target registration is in progress",
)
_HEALTHY: TargetHealth = ("healthy", None, None)
_UNHEALTHY: TargetHealth = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
_DRAINING: TargetHealth = (
    "draining",
    "Target.DeregistrationInProgress",
    "Target deregistration is in progress",
)


class Registration(Protocol):
    """One registered target as the target group describes it (``sandbox.aws.target_groups``)."""

    @property
    def target_group_arn(self) -> str: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def timeout(self) -> float: ...
    @property
    def healthy_threshold(self) -> int: ...
    @property
    def unhealthy_threshold(self) -> int: ...
    @property
    def deregistration_delay(self) -> float: ...


Probe = Callable[[Registration, float], bool]  # (target, timeout in real seconds) -> passed


@dataclass
class CheckState:
    """The verdict on one target and the run of results that leads to the next one."""

    state: TargetHealth = _INITIAL
    passes: int = 0
    failures: int = 0

    def record(self, passed: bool, *, healthy_threshold: int, unhealthy_threshold: int) -> None:
        """Count one check's result and change the verdict when a threshold is reached."""
        if passed:
            self.passes, self.failures = self.passes + 1, 0
            if self.passes >= healthy_threshold:
                self.state = _HEALTHY
        else:
            self.passes, self.failures = 0, self.failures + 1
            if self.failures >= unhealthy_threshold:
                self.state = _UNHEALTHY


@dataclass
class _Checked:
    target: Registration
    check: CheckState
    next_check: float


class TargetHealthChecker:
    """Probes the registered targets from ``source()`` on their groups' schedules.

    ``start`` runs the checks in a background thread; ``check_due`` runs one round in the
    caller's thread (tests drive it with their own clock).
    """

    def __init__(
        self,
        source: Callable[[], Iterable[Registration]],
        *,
        second: float,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._second = second
        self._probe = probe or probe_target
        self._clock = clock
        self._lock = threading.Lock()
        self._checked: dict[tuple[str, str], _Checked] = {}
        self._draining: dict[tuple[str, str], float] = {}  # -> when the delay ends
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def health(self, target_group_arn: str, instance_id: str, port: int = 0) -> TargetHealth:
        """Return (State, Reason, Description) of one target, as DescribeTargetHealth says it."""
        key = (target_group_arn, instance_id)
        with self._lock:
            checked = self._checked.get(key)
            if checked is not None:
                return checked.check.state
            if self._draining.get(key, 0.0) > self._clock():
                return _DRAINING
        return NOT_REGISTERED

    def healthy(self, target_group_arn: str, instance_id: str) -> bool:
        """Whether the NLB may open new connections to this target."""
        return self.health(target_group_arn, instance_id)[0] == "healthy"

    def seconds(self, aws_seconds: float) -> float:
        """Return how long `aws_seconds` of the health checks' clock last here."""
        return aws_seconds * self._second

    def check_due(self) -> None:
        """Sync with the registered targets, then probe every target whose check is due."""
        now = self._clock()
        targets = {(t.target_group_arn, t.instance_id): t for t in self._source()}
        with self._lock:
            for key in [k for k in self._checked if k not in targets]:
                gone = self._checked.pop(key).target
                self._draining[key] = now + self.seconds(gone.deregistration_delay)
            for key in [k for k, until in self._draining.items() if until <= now]:
                del self._draining[key]
            for key, target in targets.items():
                checked = self._checked.get(key)
                if checked is None:
                    self._draining.pop(key, None)
                    self._checked[key] = _Checked(
                        target, CheckState(), now + self._interval(target)
                    )
                else:
                    checked.target = target
            due = [(k, c.target) for k, c in self._checked.items() if c.next_check <= now]
        for key, target in due:
            passed = self._probe(target, self._timeout(target))
            with self._lock:
                checked = self._checked.get(key)
                if checked is None:
                    continue
                before = checked.check.state[0]
                checked.check.record(
                    passed,
                    healthy_threshold=target.healthy_threshold,
                    unhealthy_threshold=target.unhealthy_threshold,
                )
                checked.next_check = max(checked.next_check + self._interval(target), now)
                after = checked.check.state[0]
            if after != before:
                log.info("target %s of %s: %s -> %s", key[1], key[0], before, after)

    def start(self) -> None:
        """Run the checks in a daemon thread until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nlb-health-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the checks and forget every verdict."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._checked.clear()
            self._draining.clear()

    def _run(self) -> None:
        while not self._stop.wait(_TICK):
            try:
                self.check_due()
            except Exception:  # a bad round must not end the checks for good
                log.exception("health-check round failed")

    def _interval(self, target: Registration) -> float:
        return max(self.seconds(target.interval), MIN_INTERVAL)

    def _timeout(self, target: Registration) -> float:
        scaled = min(self.seconds(target.timeout), self._interval(target))
        return min(max(scaled, MIN_TIMEOUT), MAX_TIMEOUT)


def probe_target(target: Registration, timeout: float) -> bool:
    """Probe one target on its node: an HTTP GET on the check path, or a TCP handshake."""
    try:
        with socket.create_connection((target.ip, target.port), timeout=timeout) as conn:
            if target.protocol == "TCP":
                return True
            conn.sendall(
                f"GET {target.path} HTTP/1.1\r\nHost: {target.ip}:{target.port}\r\n"
                "User-Agent: ELB-HealthChecker/2.0\r\nConnection: close\r\n\r\n".encode()
            )
            status_line = _read_line(conn)
    except OSError:
        return False
    parts = status_line.split(" ", 2)
    return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400


def _read_line(conn: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data and len(data) < 4096:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")
