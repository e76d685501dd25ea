"""The project's errors, and which failures are worth retrying.

Library errors are translated at the adapter boundary into these, chained with ``from``, so a
failed run names the action that failed instead of a bare botocore or urllib3 trace. Only
``TransientError`` (and the library errors ``is_transient`` recognises) are retried: a bad spec, a
missing permission or a conflicting resource fails on the first attempt. Pure: library errors
are recognised by their shape (``response``, ``status``, class names), never imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

# Error codes of something that exists but is not visible yet: only time helps, and botocore's
# own retries do not know them.
EVENTUAL_CONSISTENCY_CODES = frozenset(
    {
        "InvalidInstanceID.NotFound",  # right after RunInstances
        "InvocationDoesNotExist",  # right after SendCommand
    }
)
# Error codes AWS uses for throttling and passing server trouble, across services.
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
    | EVENTUAL_CONSISTENCY_CODES
)
TRANSIENT_HTTP_STATUSES = frozenset({0, 429, 500, 502, 503, 504})


class KopsNlbError(Exception):
    """Base of every error this project raises."""


class TransientError(KopsNlbError):
    """Something that may well succeed if tried again a little later."""


class SpecError(KopsNlbError):
    """The environment spec does not fit the account or the tools (found before any write)."""


class ConflictError(KopsNlbError):
    """A resource exists but differs from what the spec asks for, and changing it is unsafe."""


class WaitTimeout(KopsNlbError):
    """A wait reached its deadline; the message lists what was still not ready."""

    def __init__(self, what: str, *, waited: float, still_failing: Iterable[str]) -> None:
        self.what = what
        self.waited = waited
        self.still_failing = tuple(still_failing)
        detail = "; ".join(self.still_failing) or "no detail reported"
        super().__init__(f"{what}: not ready after {waited:.0f}s; still failing: {detail}")


class KopsCommandError(KopsNlbError):
    """The kops CLI exited non-zero; carries the tail of its stderr."""

    def __init__(self, argv: list[str], exit_code: int, stderr_tail: str) -> None:
        self.argv = argv
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        super().__init__(
            f"`{' '.join(argv[:3])} ...` exited {exit_code}: {kops_error_line(stderr_tail)}"
            + (f"\n{stderr_tail.strip()}" if "\n" in stderr_tail.strip() else "")
        )


def kops_error_line(stderr_tail: str) -> str:
    """The line that says why kops failed: its last ``Error:`` line (cobra prints the command's
    error last, after the log lines), else the last line it printed."""
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or ["(no stderr)"])[-1]


class TransientKopsCommandError(KopsCommandError, TransientError):
    """The kops CLI failed in a way that passes with time (throttling, 5xx, a network timeout)."""


class VerificationFailed(KopsNlbError):
    """One or more verification checks failed."""


def aws_error_code(exc: BaseException) -> str | None:
    """Return the AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_transient(exc: BaseException) -> bool:
    """Tell whether retrying the failed call is likely to help."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, KopsNlbError):
        return False
    code = aws_error_code(exc)
    if code is not None:
        return code in TRANSIENT_AWS_CODES
    status = getattr(exc, "status", None)
    # The Kubernetes client raises ApiException subclasses (ServiceException for 5xx, ...).
    if _is_api_exception(exc) and isinstance(status, int):
        return status in TRANSIENT_HTTP_STATUSES
    # Connection-level trouble from botocore, urllib3 or the socket layer.
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "EndpointConnectionError",
            "ConnectionClosedError",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "ProtocolError",
            "MaxRetryError",
            "NewConnectionError",
            "ConnectionError",
            "TimeoutError",
        }
    )


def failure_text(exc: BaseException) -> str:
    """Return ``<Type>: <why>`` of a failed call.

    An error that wraps its cause (urllib3's ``MaxRetryError``, ``ProxyError``) reads as its own
    words followed by its cause's, instead of their reprs; a Kubernetes ``ApiException`` reads
    as its status, reason and the message of its Status body, without the response headers and
    raw body its text carries.
    """
    why = _why(exc)
    return f"{type(exc).__name__}: {why}" if why else type(exc).__name__


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return _why(reason)
    if _is_api_exception(exc):
        return _api_failure(exc)
    causes = [arg for arg in exc.args if isinstance(arg, BaseException)]
    if causes:
        words = [arg for arg in exc.args if isinstance(arg, str)]
        return ": ".join([*words, *(_why(cause) for cause in causes)])
    return str(exc)


def _is_api_exception(exc: BaseException) -> bool:
    return any(cls.__name__ == "ApiException" for cls in type(exc).__mro__)


def _api_failure(exc: BaseException) -> str:
    """``(status) reason: message`` of a Kubernetes API error, the message from its Status body."""
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    parts = [f"({status})"] if status else []
    if reason:
        parts.append(str(reason))
    text = " ".join(parts)
    message = _status_message(getattr(exc, "body", None))
    if message:
        return f"{text}: {message}" if text else message
    return text


def _status_message(body: object) -> str | None:
    """The ``message`` of a Kubernetes Status object sent as a response body, if it is one."""
    if not isinstance(body, str | bytes) or not body:
        return None
    try:
        status = json.loads(body)
    except ValueError:
        return None
    message = status.get("message") if isinstance(status, dict) else None
    return message if isinstance(message, str) and message else None
