"""Whether a failed kops command is worth running again, read from what kops printed (pure).

kops is a Go program on aws-sdk-go-v2: an AWS error that outlasted the SDK's own retries reaches
stderr as ``operation error S3: PutObject, exceeded maximum number of attempts, 3, https response
error StatusCode: 503, RequestID: ..., api error SlowDown: Please reduce your request rate.``,
and cobra prints the command's error last, as ``Error: ...``. So the last ``Error:`` line
decides: an AWS code or wording of throttling, server trouble or a network timeout is transient;
anything that names a bad flag, a missing permission, a quota or a missing object fails at once
with kops's own message. A permanent sign wins over a transient one (kops's task executor wraps
the last error it saw in ``deadline exceeded executing task ... Example error: ...``), and a
failure neither list knows is permanent: retrying what nobody understands only repeats it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kops_nlb.core.errors import KopsCommandError, TransientKopsCommandError
from kops_nlb.core.kops.output import STDERR_TAIL_LINES

# `api error <Code>: <message>` (smithy-go), `Code: <Code>` (older SDK wording) or a bare code.
_API_CODE = re.compile(r"api error (?P<code>[A-Za-z0-9.]+):")
_STATUS = re.compile(r"StatusCode: (?P<status>\d{3})")

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InsufficientInstanceCapacity",  # AWS: try again later or elsewhere
    }
)
PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthFailure",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "NoSuchBucket",
        "VcpuLimitExceeded",
        "InstanceLimitExceeded",
        "VpcLimitExceeded",
        "AddressLimitExceeded",
        "LimitExceeded",
        "LimitExceededException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "Unsupported",
    }
)
# Wording kops, cobra or the Go runtime print for the two kinds (matched case-sensitively).
PERMANENT_WORDING = (
    "unknown flag:",
    "unknown shorthand flag:",
    "unknown command ",
    "flag needs an argument:",
    "invalid argument ",
    "unknown DNSType",
    "already exists",
    "not found",
    "State Store: Required value",
    "is not authorized to perform",
    "You are not authorized",
    "limit exceeded",
    "quota",
)
TRANSIENT_WORDING = (
    "Rate exceeded",
    "Please reduce your request rate",
    "context deadline exceeded",
    "i/o timeout",
    "TLS handshake timeout",
    "connection reset by peer",
    "timeout awaiting response headers",
    "deadline exceeded executing task",
    "unexpected EOF",
    # kops reads back what it has just written to the state store and stops (a klog fatal,
    # exit 255) when that read fails: an S3 hiccup, gone when kops runs again.
    "immediately after creation",
)
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class KopsFailure:
    """The verdict on one failed kops run: retry or not, and the line that decided it."""

    transient: bool
    reason: str


_KLOG_FATAL = re.compile(r"^F\d{4} ")


def deciding_line(stderr: str) -> str:
    """Return the last ``Error:`` line of kops's stderr, else its last fatal log line (klog's
    ``F1205 ...``, followed by a stack dump), else its last non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for wanted in (lambda line: line.startswith("Error:"), _KLOG_FATAL.match):
        found = [line for line in lines if wanted(line)]
        if found:
            return found[-1]
    return lines[-1] if lines else ""


def classify_kops_failure(stderr: str, exit_code: int) -> KopsFailure:
    """Tell whether running the failed kops command again is likely to help."""
    line = deciding_line(stderr)
    if exit_code < 0:
        return KopsFailure(False, f"kops was killed by signal {-exit_code}")
    codes = {match.group("code") for match in _API_CODE.finditer(line)}
    permanent = codes & PERMANENT_CODES
    if permanent:
        return KopsFailure(False, f"AWS refused: {', '.join(sorted(permanent))}")
    transient = codes & TRANSIENT_CODES
    if transient:
        return KopsFailure(True, f"AWS answered {', '.join(sorted(transient))}")
    for wording in PERMANENT_WORDING:
        if wording in line:
            return KopsFailure(False, f"kops says {wording.strip(' :')!r}")
    statuses = {int(match.group("status")) for match in _STATUS.finditer(line)}
    if statuses & TRANSIENT_STATUSES:
        return KopsFailure(True, f"AWS answered HTTP {min(statuses & TRANSIENT_STATUSES)}")
    for wording in TRANSIENT_WORDING:
        if wording in line:
            return KopsFailure(True, f"kops says {wording!r}")
    return KopsFailure(False, "not a failure known to pass with time")


def kops_command_error(argv: list[str], exit_code: int, stderr: str) -> KopsCommandError:
    """Return the error for a failed kops run: transient (retried) or not, with kops's message.

    The message is the last lines of stderr, led by kops's ``Error:`` line when the usage text
    cobra prints after a flag error pushed it out of them.
    """
    lines = stderr.splitlines()[-STDERR_TAIL_LINES:]
    line = deciding_line(stderr)
    if line and line not in (kept.strip() for kept in lines):
        lines = [line, "...", *lines[-(STDERR_TAIL_LINES - 2) :]]
    tail = "\n".join(lines)
    if classify_kops_failure(stderr, exit_code).transient:
        return TransientKopsCommandError(argv, exit_code, tail)
    return KopsCommandError(argv, exit_code, tail)
