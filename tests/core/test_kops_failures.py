"""Which kops failures are retried: real kops output, recorded or worded as aws-sdk-go-v2 prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kops_nlb.core.errors import TransientError, TransientKopsCommandError, is_transient
from kops_nlb.core.kops.failures import classify_kops_failure, deciding_line, kops_command_error

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"
KLOG = "I1205 00:31:02.123456   12345 executor.go:113] Tasks: 40 done / 141 total; 9 can run\n"
# aws-sdk-go-v2's wording once its retries are spent (smithy-go OperationError, retry
# MaxAttemptsError, awshttp ResponseError, GenericAPIError), as kops passes it to cobra.
SDK = "operation error {service}: {op}, exceeded maximum number of attempts, 3, https response error StatusCode: {status}, RequestID: 5f1e0c6a-1b2c-4d5e-8f90-0123456789ab, api error {code}: {message}"


def recorded(name: str) -> tuple[str, int]:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    return fixture["stderr"], fixture["exit_code"]


@pytest.mark.parametrize(
    "name",
    [
        "create-cluster-unknown-flag",
        "create-cluster-bad-dns",
        "create-cluster-exists",
        "get-cluster-missing",
        "get-cluster-missing-bucket",
        "get-cluster-no-state-store",
        "delete-cluster-missing",
        "export-kubecfg-missing",
        "validate-cluster-missing",
    ],
)
def test_recorded_real_kops_failures_are_permanent(name: str) -> None:
    stderr, exit_code = recorded(name)
    assert exit_code != 0
    assert not classify_kops_failure(stderr, exit_code).transient


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "Error: error writing cluster config: "
            + SDK.format(
                service="S3",
                op="PutObject",
                status=503,
                code="SlowDown",
                message="Please reduce your request rate.",
            ),
            "SlowDown",
        ),
        (
            KLOG
            + "Error: "
            + SDK.format(
                service="EC2",
                op="DescribeVpcs",
                status=503,
                code="RequestLimitExceeded",
                message="Request limit exceeded.",
            ),
            "RequestLimitExceeded",
        ),
        (
            "Error: "
            + SDK.format(
                service="IAM", op="GetRole", status=400, code="Throttling", message="Rate exceeded"
            ),
            "Throttling",
        ),
        (
            "Error: "
            + SDK.format(
                service="Elastic Load Balancing v2",
                op="DescribeLoadBalancers",
                status=500,
                code="InternalFailure",
                message="An internal error has occurred",
            ),
            "InternalFailure",
        ),
        (
            "Error: operation error EC2: DescribeVpcs, https response error StatusCode: 502, RequestID: , deserialization failed, failed to decode response body",
            "HTTP 502",
        ),
        (
            'Error: operation error S3: GetObject, exceeded maximum number of attempts, 3, https response error StatusCode: 0, RequestID: , HostID: , request send failed, Get "https://kops-state.s3.ap-northeast-1.amazonaws.com/c/config": dial tcp 52.219.16.1:443: i/o timeout',
            "i/o timeout",
        ),
        (
            'Error: error reading cluster configuration: Get "https://s3.amazonaws.com/": context deadline exceeded',
            "context deadline exceeded",
        ),
        (
            "Error: error running tasks: deadline exceeded executing task NatGateway/ap-northeast-1a."
            " Example error: "
            + SDK.format(
                service="EC2",
                op="CreateNatGateway",
                status=503,
                code="RequestLimitExceeded",
                message="Request limit exceeded.",
            ),
            "RequestLimitExceeded",
        ),
        (
            # Seen from real kops 1.36.2 under S3 throttling: a klog fatal, then a stack dump.
            (
                "I1205 11:23:12.325018   21316 executor.go:113] Tasks: 0 done / 141 total\n"
                "F1205 11:23:23.019018   21316 vfs_secretstore.go:150] unable to load secret "
                "immediately after creation s3://kops-state/c.k8s.local/secrets/system:dns: "
                "error fetching s3://kops-state/c.k8s.local/secrets/system:dns\n"
                "goroutine 1 [running]:\n"
                "k8s.io/klog/v2.stacks(0x1)\n"
            ),
            "immediately after creation",
        ),
    ],
)
def test_throttling_5xx_and_timeouts_are_transient(stderr: str, reason: str) -> None:
    failure = classify_kops_failure(stderr, 255 if "F1205" in stderr else 1)
    assert failure.transient
    assert reason in failure.reason


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "Error: "
            + SDK.format(
                service="EC2",
                op="RunInstances",
                status=400,
                code="VcpuLimitExceeded",
                message="You have requested more vCPU capacity than your current vCPU limit of 32 allows",
            ).replace("exceeded maximum number of attempts, 3, ", ""),
            "VcpuLimitExceeded",
        ),
        (
            "Error: operation error EC2: CreateVpc, https response error StatusCode: 403, RequestID: x, api error UnauthorizedOperation: You are not authorized to perform this operation.",
            "UnauthorizedOperation",
        ),
        (
            "Error: operation error IAM: CreateRole, https response error StatusCode: 403, RequestID: x, api error AccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:CreateRole",
            "AccessDenied",
        ),
        (
            "Error: error running tasks: deadline exceeded executing task SecurityGroup/masters. Example error: operation error EC2: CreateSecurityGroup, https response error StatusCode: 403, RequestID: x, api error UnauthorizedOperation: You are not authorized to perform this operation.",
            "UnauthorizedOperation",
        ),
        ("Error: something nobody has seen before", "not a failure known"),
    ],
)
def test_bad_flags_quotas_and_permissions_fail_at_once(stderr: str, reason: str) -> None:
    failure = classify_kops_failure(stderr, 1)
    assert not failure.transient
    assert reason in failure.reason


def test_the_last_error_line_decides() -> None:
    stderr = (
        "W1205 executor.go:141] error running task (9m58s remaining): api error SlowDown: x\n"
        "Error: unknown flag: --no-such-flag\n"
    )
    assert deciding_line(stderr) == "Error: unknown flag: --no-such-flag"
    assert not classify_kops_failure(stderr, 1).transient


def test_a_kops_killed_by_a_signal_is_not_retried_in_the_run() -> None:
    failure = classify_kops_failure("", -9)
    assert not failure.transient
    assert "signal 9" in failure.reason


def test_the_error_carries_kops_own_message_and_its_kind() -> None:
    stderr, exit_code = recorded("create-cluster-unknown-flag")
    error = kops_command_error(["create", "cluster", "x"], exit_code, stderr)
    assert not is_transient(error)
    assert "Error: unknown flag: --no-such-flag" in str(error)  # led by it, despite the usage
    throttled = kops_command_error(
        ["update", "cluster"],
        1,
        "Error: "
        + SDK.format(
            service="S3", op="PutObject", status=503, code="SlowDown", message="Please reduce"
        ),
    )
    assert isinstance(throttled, TransientKopsCommandError)
    assert isinstance(throttled, TransientError) and is_transient(throttled)
    assert "api error SlowDown" in str(throttled)
