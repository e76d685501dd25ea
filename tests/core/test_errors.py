"""Which failures are retried."""

from __future__ import annotations

import ssl

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from kubernetes.client.exceptions import ApiException, NotFoundException, ServiceException
from urllib3.exceptions import MaxRetryError, ProxyError, SSLError

from kops_nlb.core.errors import (
    ConflictError,
    KopsCommandError,
    SpecError,
    TransientError,
    WaitTimeout,
    failure_text,
    is_transient,
)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("Throttling"), True),
        (client_error("RequestLimitExceeded"), True),
        (client_error("InternalError"), True),
        (client_error("InvocationDoesNotExist"), True),
        (client_error("AccessDenied"), False),
        (client_error("BucketAlreadyExists"), False),
        (client_error("ValidationError"), False),
        (EndpointConnectionError(endpoint_url="http://x"), True),
        (ApiException(status=503), True),
        (ServiceException(status=503), True),
        (NotFoundException(status=404), False),
        (ApiException(status=429), True),
        (ApiException(status=404), False),
        (ApiException(status=403), False),
        (TransientError("later"), True),
        (SpecError("bad"), False),
        (ConflictError("differs"), False),
        (WaitTimeout("x", waited=1, still_failing=[]), False),
        (KopsCommandError(["kops", "get"], 1, "err"), False),
        (ValueError("x"), False),
        (ConnectionResetError(), True),
    ],
)
def test_transient_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_kops_error_carries_the_stderr_tail() -> None:
    err = KopsCommandError(["kops", "create", "cluster", "x"], 1, "Error: boom\n")
    assert "exited 1" in str(err) and "Error: boom" in str(err)


def test_a_kops_failure_says_why_on_its_first_line_and_keeps_the_log_below() -> None:
    tail = (
        "I1205 07:51:08.241454   24219 executor.go:113] Tasks: 0 done / 86 total; 46 can run\n"
        "Error: operation error EC2: RunInstances, api error InsufficientInstanceCapacity: "
        "no t3.medium capacity in ap-northeast-1a\n"
    )
    err = KopsCommandError(["kops", "update", "cluster", "x.k8s.local", "--yes"], 1, tail)
    first, *rest = str(err).splitlines()
    assert first == (
        "`kops update cluster ...` exited 1: Error: operation error EC2: RunInstances, api error "
        "InsufficientInstanceCapacity: no t3.medium capacity in ap-northeast-1a"
    )
    assert rest[0].startswith("I1205 07:51:08")  # the log follows
    assert str(KopsCommandError(["kops", "get"], 2, "")).endswith("exited 2: (no stderr)")
    assert str(KopsCommandError(["kops", "get"], 2, "just this")).endswith("exited 2: just this")


class _Response:
    """What the Kubernetes client hands ApiException: a status, a reason, headers and a body."""

    status, reason, data = 500, "Internal Server Error", b'{"kind":"Status","message":"etcd down"}'
    headers = {"Content-Type": "application/json", "Audit-Id": "0f3c"}


def _html_bad_gateway() -> ApiException:
    """A 502 from a proxy in front of the API: its body is a page, not a Status."""
    error = ApiException(status=502, reason="Bad Gateway")
    error.body = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    return error


def _verify_failed() -> ssl.SSLCertVerificationError:
    """The error ssl raises for an untrusted certificate: its ``reason`` is only the code."""
    error = ssl.SSLCertVerificationError(
        1,
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
        " (_ssl.c:1006)",
    )
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    return error


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (
            MaxRetryError(
                None,  # type: ignore[arg-type]
                "/api/v1/nodes",
                ProxyError(
                    "Unable to connect to proxy",
                    OSError("Tunnel connection failed: 502 Bad Gateway"),
                ),
            ),
            "MaxRetryError: Unable to connect to proxy: Tunnel connection failed: 502 Bad Gateway",
        ),
        (
            ApiException(http_resp=_Response()),
            "ApiException: (500) Internal Server Error: etcd down",
        ),
        (ApiException(status=0, reason="Connection reset"), "ApiException: Connection reset"),
        (_html_bad_gateway(), "ApiException: (502) Bad Gateway"),
        (
            MaxRetryError(None, "/api/v1/nodes", SSLError(_verify_failed())),  # type: ignore[arg-type]
            (
                "MaxRetryError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                "self-signed certificate (_ssl.c:1006)"
            ),
        ),
        (OSError("connection refused"), "OSError: connection refused"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (TimeoutError(), "TimeoutError"),
        (
            client_error("Throttling"),
            "ClientError: An error occurred (Throttling) when calling the Op operation: m",
        ),
    ],
)
def test_failure_text_names_the_cause_in_its_own_words(exc: BaseException, text: str) -> None:
    assert failure_text(exc) == text


def test_failure_text_leaves_out_an_api_errors_headers_and_body() -> None:
    exc = ApiException(http_resp=_Response())
    assert "Audit-Id" in str(exc) and "etcd down" in str(exc)  # what the text would have carried
    assert "Audit-Id" not in failure_text(exc) and "\n" not in failure_text(exc)
