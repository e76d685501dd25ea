"""An AWS error as real kops prints it: aws-sdk-go-v2's wording, not botocore's.

Real kops is a Go program: an AWS error that outlasted the SDK's retries reaches its ``Error:``
line as ``operation error S3: PutObject, exceeded maximum number of attempts, 8, https response
error StatusCode: 503, RequestID: ..., HostID: ..., api error SlowDown: Please reduce your
request rate.``. The emulated kops talks to AWS through botocore; this renders botocore's errors
in that wording, so whoever reads the twin's kops reads what real kops would have said.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

# The retries the emulated kops's clients make (sandbox.kops.cloud's Config), which the SDK's
# wording reports once they are spent.
MAX_ATTEMPTS = 8


def _service_id(traceback: TracebackType | None) -> str:
    """Return the service id of the botocore client whose call raised (its ``_make_api_call``)."""
    service = "AWS"
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "_make_api_call":
            client: Any = frame.f_locals.get("self")
            model = getattr(getattr(client, "meta", None), "service_model", None)
            service = str(getattr(model, "service_id", None) or service)
        traceback = traceback.tb_next
    return service


def go_sdk_message(exc: BaseException) -> str | None:
    """Return ``exc`` worded as aws-sdk-go-v2 words it, or None when it is no botocore error."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    service = _service_id(exc.__traceback__)
    operation = str(getattr(exc, "operation_name", "") or "")
    if "ClientError" in names:
        response: dict[str, Any] = getattr(exc, "response", {}) or {}
        error = response.get("Error", {})
        meta = response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode", 0)
        retried = meta.get("RetryAttempts", 0)
        attempts = f"exceeded maximum number of attempts, {retried + 1}, " if retried else ""
        host = f", HostID: {meta['HostId']}" if "HostId" in meta else ""
        return (
            f"operation error {service}: {operation}, {attempts}https response error "
            f"StatusCode: {status}, RequestID: {meta.get('RequestId', '')}{host}, "
            f"api error {error.get('Code', 'Unknown')}: {error.get('Message', '')}"
        )
    if names & {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError"}:
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return (
            f"operation error {service}: {operation or 'request'}, exceeded maximum number of "
            f"attempts, {MAX_ATTEMPTS}, https response error StatusCode: 0, RequestID: , "
            f'request send failed, Post "{url}": dial tcp: i/o timeout'
        )
    return None
