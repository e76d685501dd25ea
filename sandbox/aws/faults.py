"""Fault injection for the twin's AWS: what the real cloud does on a bad day.

A flow that works against a perfectly responsive moto can still fail on AWS, where every API
answers "Rate exceeded" now and then, EC2 runs out of an instance type in one zone, a fresh
instance or Run Command is briefly unknown to Describe, and an SSM agent drops its connection.
These knobs make the twin misbehave the same way, reproducibly (seeded random sources decide
which calls fail, so one seed gives one sequence of outcomes for one sequence of calls). The
wire-level ones are decided here, before moto sees the request (``FaultInjector``); the SSM
agent's are in ``sandbox.aws.gaps.ssm``.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from dataclasses import dataclass

from sandbox.aws.wire import AwsCall


@dataclass(frozen=True)
class AwsFaults:
    """What goes wrong, and how often."""

    throttle_rate: float = 0.0
    """Fraction of API calls (never ``/moto-api``) answered with the service's throttling error."""
    seed: int = 0
    """Seed of the random source that picks the throttled calls."""
    invocation_visible_after: float = 0.0
    """Seconds after ``SendCommand`` during which ``GetCommandInvocation`` raises
    ``InvocationDoesNotExist`` (AWS's eventual consistency)."""
    command_pickup_delay: float = 0.0
    """Seconds an invocation stays ``Pending`` before the executor is called."""
    ec2_request_limit_rate: float = 0.0
    """Fraction of EC2 calls answered ``RequestLimitExceeded`` (EC2's own account-wide limit),
    on top of ``throttle_rate``."""
    insufficient_capacity_zone: str = ""
    """A zone where every ``RunInstances`` fails with ``InsufficientInstanceCapacity``."""
    instance_visible_after: float = 0.0
    """Seconds after ``RunInstances`` during which ``DescribeInstances`` naming the new instance
    answers ``InvalidInstanceID.NotFound`` (EC2's eventual consistency)."""
    ssm_connection_lost_rate: float = 0.0
    """Fraction of Run Command invocations during which the agent loses its connection."""
    ssm_connection_lost_seconds: float = 0.0
    """How long such an agent stays ``ConnectionLost`` before it reconnects and reports."""

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "ec2_request_limit_rate", "ssm_connection_lost_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        delays = (
            self.invocation_visible_after,
            self.command_pickup_delay,
            self.instance_visible_after,
            self.ssm_connection_lost_seconds,
        )
        if min(delays) < 0:
            raise ValueError("delays must not be negative")


class Throttler:
    """Decides, call by call, whether to throttle; thread-safe and reproducible."""

    def __init__(self, faults: AwsFaults, *, rate: float | None = None) -> None:
        self._rate = faults.throttle_rate if rate is None else rate
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()

    def should_throttle(self) -> bool:
        """Return True when this call is to be throttled."""
        if self._rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < self._rate


@dataclass(frozen=True)
class ThrottleError:
    """The wire form of one AWS error: HTTP status, code and message."""

    status: int
    code: str
    message: str


def throttle_error(call: AwsCall) -> ThrottleError:
    """Return the throttling error the real service sends for this call.

    EC2 answers 503 ``RequestLimitExceeded``, S3 503 ``SlowDown``, JSON services (SSM) 400
    ``ThrottlingException``, and query services (IAM, STS, ELBv2) 400 ``Throttling``. botocore
    retries every one of them.
    """
    if call.protocol == "ec2":
        return ThrottleError(503, "RequestLimitExceeded", "Request limit exceeded.")
    if call.protocol == "rest-xml":
        return ThrottleError(503, "SlowDown", "Please reduce your request rate.")
    if call.protocol == "json":
        return ThrottleError(400, "ThrottlingException", "Rate exceeded")
    return ThrottleError(400, "Throttling", "Rate exceeded")


def render_throttle(call: AwsCall) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return the HTTP status line, headers and body of the throttling error for this call."""
    return render_error(call, throttle_error(call))


_REASONS = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


def render_error(call: AwsCall, error: ThrottleError) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return the HTTP status line, headers and body of an AWS error in the call's protocol."""
    request_id = str(uuid.uuid4())
    reason = _REASONS.get(error.status, "Error")
    if call.protocol == "json":
        content_type = "application/x-amz-json-1.1"
        body = json.dumps({"__type": error.code, "message": error.message})
    elif call.protocol == "ec2":
        content_type = "text/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{error.code}</Code>"
            f"<Message>{error.message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    elif call.protocol == "rest-xml":
        content_type = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{error.code}</Code><Message>{error.message}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
    else:
        content_type = "text/xml"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{error.code}</Code><Message>{error.message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    payload = body.encode()
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(payload))),
        ("x-amzn-RequestId", request_id),
    ]
    if call.protocol == "json":
        headers.append(("x-amzn-ErrorType", error.code))
    return f"{error.status} {reason}", headers, payload
