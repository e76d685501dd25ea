"""The twin's kops words an AWS error the way real kops (aws-sdk-go-v2) does, on its Error: line."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sandbox.kops import program
from sandbox.kops.cli import main
from sandbox.kops.sdk_errors import go_sdk_message


def _throttled_put(**meta: Any) -> Exception:
    s3 = boto3.client(
        "s3", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(s3) as stub:
        stub.add_client_error(
            "put_object",
            service_error_code="SlowDown",
            service_message="Please reduce your request rate.",
            http_status_code=503,
            response_meta={"RequestId": "r-1", "HostId": "h-1", **meta},
        )
        try:
            s3.put_object(Bucket="b", Key="k", Body=b"")
        except Exception as exc:  # noqa: BLE001 - the error is what is under test
            return exc
    raise AssertionError("the stubbed call did not fail")


def test_a_throttled_call_reads_like_aws_sdk_go_v2() -> None:
    message = go_sdk_message(_throttled_put(RetryAttempts=7))
    assert message == (
        "operation error S3: PutObject, exceeded maximum number of attempts, 8, https response "
        "error StatusCode: 503, RequestID: r-1, HostID: h-1, api error SlowDown: Please reduce "
        "your request rate."
    )


def test_kops_prints_it_on_its_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    error = _throttled_put(RetryAttempts=7)

    def throttled(_program: Any) -> int:
        raise error

    monkeypatch.setitem(program.HANDLERS, "version", throttled)
    out, err = io.StringIO(), io.StringIO()
    assert main(["version"], env={}, stdout=out, stderr=err) == 1
    assert err.getvalue().startswith("Error: operation error S3: PutObject, exceeded maximum")
    assert "api error SlowDown: Please reduce your request rate." in err.getvalue()


def test_other_errors_keep_their_own_wording() -> None:
    assert go_sdk_message(ValueError("bad")) is None
