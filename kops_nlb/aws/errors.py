"""AWS errors at the adapter boundary: one translation into the project's errors, one vocabulary.

One retry layer per call: botocore's standard mode (6 attempts, backoff, a retry quota) already
retries throttling, 5xx and connection failures of every AWS call, so an error that reaches
``aws_failure`` has outlasted those retries and is final. Only what botocore cannot know to be
temporary, eventual consistency, becomes a ``TransientError`` for the caller's layer (the task's
retries, or a wait's poller) to try again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from botocore.exceptions import ClientError

from kops_nlb.core.errors import (
    EVENTUAL_CONSISTENCY_CODES,
    KopsNlbError,
    TransientError,
    aws_error_code,
    failure_text,
)

DeleteOutcome = Literal["gone", "retry", "fail"]

# The resource is not there (any more).
GONE_CODES = frozenset(
    {
        "InvalidGroup.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidNetworkInterfaceID.NotFound",
        "InvalidVolume.NotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "NoSuchEntity",
        "NoSuchBucket",
    }
)
# Something still uses the resource and will let go of it soon (an NLB's interfaces disappear
# minutes after the NLB, an instance's after it terminates).
IN_USE_CODES = frozenset(
    {
        "DependencyViolation",
        "ResourceInUse",
        "InvalidNetworkInterface.InUse",
        "VolumeInUse",
    }
)
MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
ACCESS_DENIED_CODES = frozenset({"403", "Forbidden", "AccessDenied"})


def error_reason(exc: BaseException) -> str:
    """Return '<Code>: <message>' of an AWS error, else the exception's type and text."""
    code = aws_error_code(exc)
    if code is not None and isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{code}: {message}".rstrip(": ")
    return failure_text(exc)


def is_eventually_consistent(exc: BaseException) -> bool:
    """Tell whether an AWS error only means 'not visible yet' (worth trying again later)."""
    return aws_error_code(exc) in EVENTUAL_CONSISTENCY_CODES


def item_or_none(call: Callable[..., Any], key: str, *, missing: str, **kwargs: Any) -> Any:
    """Return ``call(**kwargs)[key]``, or None when AWS answers the error code `missing`."""
    try:
        return call(**kwargs)[key]
    except ClientError as e:
        if aws_error_code(e) != missing:
            raise
        return None


def aws_failure(action: str, exc: Exception) -> KopsNlbError:
    """Return the project error for a failed AWS call: 'Failed to <action>: <Code>: <message>'.

    Eventual consistency becomes ``TransientError``; anything else has outlasted botocore's
    retries and fails the task at once. Raise the result ``from exc``.
    """
    message = f"Failed to {action}: {error_reason(exc)}"
    return TransientError(message) if is_eventually_consistent(exc) else KopsNlbError(message)


def delete_outcome(exc: BaseException) -> DeleteOutcome:
    """Classify a failed delete: already gone, worth retrying (in use, not visible yet), or failed."""
    code = aws_error_code(exc)
    if code in GONE_CODES:
        return "gone"
    if code in IN_USE_CODES or is_eventually_consistent(exc):
        return "retry"
    return "fail"
