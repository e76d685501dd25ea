"""Naming the operation of a raw request, and the throttling error per protocol (pure tables)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.aws.faults import AwsFaults, render_throttle, throttle_error
from sandbox.aws.wire import AwsCall, identify, is_write_operation


def sigv4(service: str) -> str:
    return (
        "AWS4-HMAC-SHA256 Credential=testing/20261125/ap-northeast-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=abc"
    )


def environ(
    service: str, method: str = "POST", path: str = "/", query: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "HTTP_AUTHORIZATION": sigv4(service),
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        **extra,
    }


REQUESTS = [
    # environ, body, expected call
    (
        environ("ec2"),
        b"Action=RunInstances&Version=2016-11-15",
        AwsCall("ec2", "RunInstances", "ec2"),
    ),
    (
        environ("elasticloadbalancing"),
        b"Action=CreateLoadBalancer&Version=2015-12-01",
        AwsCall("elbv2", "CreateLoadBalancer", "query"),
    ),
    (
        environ("elasticloadbalancing"),
        b"Action=CreateLoadBalancer&Version=2012-06-01",
        AwsCall("elb", "CreateLoadBalancer", "query"),
    ),
    (
        environ("iam"),
        b"Action=SimulatePrincipalPolicy",
        AwsCall("iam", "SimulatePrincipalPolicy", "query"),
    ),
    (
        environ("ssm", HTTP_X_AMZ_TARGET="AmazonSSM.SendCommand"),
        b"{}",
        AwsCall("ssm", "SendCommand", "json"),
    ),
    (environ("s3", "GET"), None, AwsCall("s3", "ListBuckets", "rest-xml")),
    (environ("s3", "PUT", "/b"), None, AwsCall("s3", "CreateBucket", "rest-xml")),
    (
        environ("s3", "PUT", "/b", "versioning"),
        None,
        AwsCall("s3", "PutBucketVersioning", "rest-xml"),
    ),
    (
        environ("s3", "GET", "/b", "publicAccessBlock"),
        None,
        AwsCall("s3", "GetPublicAccessBlock", "rest-xml"),
    ),
    (
        environ("s3", "GET", "/b", "encryption"),
        None,
        AwsCall("s3", "GetBucketEncryption", "rest-xml"),
    ),
    (environ("s3", "GET", "/b", "list-type=2"), None, AwsCall("s3", "ListObjectsV2", "rest-xml")),
    (environ("s3", "PUT", "/b/k/v"), None, AwsCall("s3", "PutObject", "rest-xml")),
    (
        environ("s3", "PUT", "/b/k", HTTP_X_AMZ_COPY_SOURCE="/b/j"),
        None,
        AwsCall("s3", "CopyObject", "rest-xml"),
    ),
    (environ("s3", "DELETE", "/b/k"), None, AwsCall("s3", "DeleteObject", "rest-xml")),
    (environ("s3", "POST", "/b", "delete"), None, AwsCall("s3", "DeleteObjects", "rest-xml")),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, None, AwsCall("unknown", "unknown", "query")),
]


@pytest.mark.parametrize(("env", "body", "expected"), REQUESTS)
def test_identify(env: dict[str, Any], body: bytes | None, expected: AwsCall) -> None:
    assert identify(env, body) == expected


@pytest.mark.parametrize(
    ("operation", "write"),
    [
        ("RunInstances", True),
        ("CreateLoadBalancer", True),
        ("PutRolePolicy", True),
        ("SendCommand", True),
        ("DescribeInstances", False),
        ("GetCommandInvocation", False),
        ("ListCommandInvocations", False),
        ("SimulatePrincipalPolicy", False),
        ("HeadBucket", False),
    ],
)
def test_is_write_operation(operation: str, write: bool) -> None:
    assert is_write_operation(operation) is write


@pytest.mark.parametrize(
    ("protocol", "status", "code"),
    [
        ("ec2", 503, "RequestLimitExceeded"),
        ("rest-xml", 503, "SlowDown"),
        ("json", 400, "ThrottlingException"),
        ("query", 400, "Throttling"),
    ],
)
def test_throttle_error_per_protocol(protocol: Any, status: int, code: str) -> None:
    call = AwsCall("x", "Op", protocol)

    error = throttle_error(call)
    status_line, headers, body = render_throttle(call)

    assert (error.status, error.code) == (status, code)
    assert status_line.startswith(str(status))
    assert code.encode() in body
    assert ("Content-Length", str(len(body))) in headers


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError):
        AwsFaults(throttle_rate=1.5)
    with pytest.raises(ValueError):
        AwsFaults(invocation_visible_after=-1)
