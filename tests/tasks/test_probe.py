"""run_probe against botocore Stubbers: the exact SSM requests, the polling, and the failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY

from kops_nlb.core.errors import KopsNlbError, WaitTimeout, is_transient
from kops_nlb.core.spec import PollPolicy
from kops_nlb.core.verify import probe_run
from kops_nlb.core.verify.probe_run import COMMENT
from tasks.probe import ProbeCommandFailed, ProbeRun, run_probe

pytestmark = pytest.mark.usefixtures("no_run_logger")

INSTANCE = "i-0123456789abcdef0"
COMMAND_ID = "5c5a3b1e-7f6d-4d59-9d5e-0123456789ab"
COMMANDS = ["probe_token=0123456789ab", "printf 'PROBE-DONE %s %s\\n' \"$probe_token\" 0"]
STDOUT = "PROBE dns nlb-probe/0123456789ab-0-1 200 172.20.33.7 80 0.004200 0\n"
FAST = PollPolicy(initial=0.001, factor=1, cap=0.001)


@pytest.fixture
def ssm(aws_stubs: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Stubber of the ssm client run_probe builds."""
    monkeypatch.setattr("kops_nlb.aws.ssm_commands.aws_client", aws_stubs.client)
    return aws_stubs["ssm"]


def expect_lookup(ssm: Any, commands: list[dict[str, Any]] | None = None) -> None:
    """Queue the list_commands look-up that precedes every send."""
    ssm.add_response(
        "list_commands",
        {"Commands": commands or []},
        {"InstanceId": INSTANCE, "Filters": [{"key": "InvokedAfter", "value": ANY}]},
    )


def expect_send(ssm: Any, timeout_s: int = 120) -> None:
    """Queue the exact send_command request and its answer."""
    ssm.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID, "Status": "Pending"}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": "AWS-RunShellScript",
            "Comment": "kops-nlb-flows probe",
            "TimeoutSeconds": 60,
            "Parameters": {"commands": COMMANDS, "executionTimeout": [str(timeout_s)]},
        },
    )


def invocation(status: str, **fields: Any) -> dict[str, Any]:
    """A GetCommandInvocation answer."""
    base: dict[str, Any] = {
        "CommandId": COMMAND_ID,
        "InstanceId": INSTANCE,
        "DocumentName": "AWS-RunShellScript",
        "Status": status,
        "StatusDetails": status,
        "ResponseCode": -1,
        "StandardOutputContent": "",
        "StandardErrorContent": "",
    }
    base.update(fields)
    return base


def expect_invocation(ssm: Any, status: str, **fields: Any) -> None:
    """Queue one get_command_invocation answer."""
    ssm.add_response(
        "get_command_invocation",
        invocation(status, **fields),
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE},
    )


def expect_not_yet(ssm: Any) -> None:
    """Queue the InvocationDoesNotExist that SSM answers right after a send."""
    ssm.add_client_error(
        "get_command_invocation",
        service_error_code="InvocationDoesNotExist",
        http_status_code=400,
        expected_params={"CommandId": COMMAND_ID, "InstanceId": INSTANCE},
    )


def probe(timeout_s: int = 120) -> ProbeRun:
    """Call the task's function directly."""
    return run_probe.fn(
        region="ap-northeast-1",
        instance_id=INSTANCE,
        commands=COMMANDS,
        timeout_s=timeout_s,
        poll=FAST,
    )


FINISHED = {
    "ResponseCode": 0,
    "ExecutionStartDateTime": "2026-11-25T18:21:36.512Z",
    "ExecutionEndDateTime": "2026-11-25T18:21:38.004Z",
    "StandardOutputContent": STDOUT,
}


def test_sends_once_then_polls_until_success(ssm: Any) -> None:
    """Not registered yet, then InProgress, then Success: the output comes back."""
    expect_lookup(ssm)
    expect_send(ssm)
    expect_not_yet(ssm)
    expect_invocation(ssm, "Pending")
    expect_invocation(ssm, "InProgress")
    expect_invocation(ssm, "Delayed")
    expect_invocation(ssm, "Success", **FINISHED)

    run = probe()

    assert run == ProbeRun(
        command_id=COMMAND_ID,
        instance_id=INSTANCE,
        status="Success",
        status_details="Success",
        response_code=0,
        stdout=STDOUT,
        stderr="",
        truncated=False,
        stderr_truncated=False,
        started_at=datetime(2026, 11, 25, 18, 21, 36, 512000, tzinfo=UTC),
        finished_at=datetime(2026, 11, 25, 18, 21, 38, 4000, tzinfo=UTC),
        adopted=False,
    )


def test_execution_timeout_is_the_given_timeout(ssm: Any) -> None:
    """executionTimeout carries timeout_s as a string."""
    expect_lookup(ssm)
    expect_send(ssm, timeout_s=45)
    expect_invocation(ssm, "Success", **FINISHED)
    assert probe(timeout_s=45).status == "Success"


def test_output_of_exactly_the_ssm_limit_is_marked_truncated(ssm: Any) -> None:
    """24,000 characters of stdout means SSM cut it."""
    expect_lookup(ssm)
    expect_send(ssm)
    expect_invocation(ssm, "Success", **{**FINISHED, "StandardOutputContent": "x" * 24_000})
    run = probe()
    assert run.truncated
    assert not run.stderr_truncated


@pytest.mark.parametrize(
    ("status", "details", "phrases"),
    [
        (
            "Failed",
            "Failed",
            ["ended Failed (Failed), exit code 2", "stderr: line 7: curl: not found"],
        ),
        (
            "TimedOut",
            "ExecutionTimedOut",
            ["ended TimedOut (ExecutionTimedOut)", "ran past its executionTimeout"],
        ),
        ("TimedOut", "DeliveryTimedOut", ["did not pick it up in time"]),
        ("Cancelled", "Cancelled", ["ended Cancelled"]),
    ],
)
def test_bad_endings_raise_with_stderr_and_are_never_retried(
    ssm: Any, status: str, details: str, phrases: list[str]
) -> None:
    """Failed, TimedOut and Cancelled raise a non-transient error naming what happened."""
    expect_lookup(ssm)
    expect_send(ssm)
    expect_invocation(ssm, "InProgress")
    expect_invocation(
        ssm,
        status,
        StatusDetails=details,
        ResponseCode=2,
        StandardErrorContent="line 7: curl: not found\n",
        StandardOutputContent="PROBE-START\n",
    )

    with pytest.raises(ProbeCommandFailed) as raised:
        probe()

    message = str(raised.value)
    assert COMMAND_ID in message and INSTANCE in message
    for phrase in phrases:
        assert phrase in message
    assert not is_transient(raised.value)


def test_long_stderr_is_cut_to_its_tail(ssm: Any) -> None:
    """The error carries only the end of a long stderr."""
    expect_lookup(ssm)
    expect_send(ssm)
    stderr = "noise " * 1000 + "the real reason"
    expect_invocation(ssm, "Failed", ResponseCode=1, StandardErrorContent=stderr)
    with pytest.raises(ProbeCommandFailed, match="the real reason") as raised:
        probe()
    assert len(str(raised.value)) < 1500


def test_an_identical_recent_command_is_followed_not_sent_again(ssm: Any) -> None:
    """A retry after a send that did reach SSM adopts that command instead of probing twice."""
    expect_lookup(
        ssm,
        [
            {  # another tool's command: ignored
                "CommandId": "11111111-1111-1111-1111-111111111111",
                "DocumentName": "AWS-RunShellScript",
                "Comment": "something else",
                "Parameters": {"commands": COMMANDS},
            },
            {  # an older probe with another token: ignored
                "CommandId": "22222222-2222-2222-2222-222222222222",
                "DocumentName": "AWS-RunShellScript",
                "Comment": COMMENT,
                "Parameters": {"commands": ["probe_token=ffffffffffff"]},
            },
            {
                "CommandId": COMMAND_ID,
                "DocumentName": "AWS-RunShellScript",
                "Comment": COMMENT,
                "Parameters": {"commands": COMMANDS, "executionTimeout": ["120"]},
            },
        ],
    )
    expect_invocation(ssm, "Success", **FINISHED)

    run = probe()

    assert run.adopted
    assert run.command_id == COMMAND_ID


def test_a_failed_send_is_final_and_a_rerun_does_not_send_twice(
    ssm: Any,
) -> None:
    """A send still throttled after botocore's own retries fails; a re-run finds the command."""
    expect_lookup(ssm)
    ssm.add_client_error("send_command", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(KopsNlbError, match="Failed to send the probe command") as raised:
        probe()
    assert not is_transient(raised.value)  # botocore is the one retry layer of an AWS call

    # Say SSM had accepted it after all: the next run's look-up finds it, and nothing is sent.
    expect_lookup(
        ssm,
        [
            {
                "CommandId": COMMAND_ID,
                "DocumentName": "AWS-RunShellScript",
                "Comment": COMMENT,
                "Parameters": {"commands": COMMANDS},
            }
        ],
    )
    expect_invocation(ssm, "Success", **FINISHED)
    assert probe().adopted


def test_permanent_send_failure_fails_at_once(ssm: Any) -> None:
    """An instance SSM does not manage is not worth retrying."""
    expect_lookup(ssm)
    ssm.add_client_error("send_command", "InvalidInstanceId", "Instances not in a valid state", 400)
    with pytest.raises(KopsNlbError, match="InvalidInstanceId") as raised:
        probe()
    assert not is_transient(raised.value)


def test_errors_after_the_send_are_never_transient(ssm: Any) -> None:
    """A permanent error while polling is raised as is; nothing after the send is retried."""
    expect_lookup(ssm)
    expect_send(ssm)
    ssm.add_client_error("get_command_invocation", "AccessDeniedException", "no", 400)
    with pytest.raises(KopsNlbError, match="AccessDeniedException") as raised:
        probe()
    assert not is_transient(raised.value)


def test_an_invocation_not_registered_yet_is_waited_for(ssm: Any) -> None:
    """Right after SendCommand the invocation may not exist yet: that is waited out."""
    expect_lookup(ssm)
    expect_send(ssm)
    ssm.add_client_error("get_command_invocation", "InvocationDoesNotExist", "not yet", 400)
    expect_invocation(ssm, "Success", **FINISHED)
    assert probe().status == "Success"


def test_a_poll_throttled_past_botocores_retries_fails_without_resending(ssm: Any) -> None:
    """botocore already retried the throttled poll: the probe fails, and is never sent again."""
    expect_lookup(ssm)
    expect_send(ssm)
    ssm.add_client_error("get_command_invocation", "ThrottlingException", "slow down", 400)
    with pytest.raises(KopsNlbError, match="ThrottlingException") as raised:
        probe()
    assert not is_transient(raised.value)


def test_a_command_that_never_finishes_times_out(ssm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past delivery + execution + grace the wait gives up with a non-transient WaitTimeout."""
    assert probe_run.wait_deadline_s(120) == 60 + 120 + 30
    monkeypatch.setattr(probe_run, "wait_deadline_s", lambda timeout_s: 0.0)
    expect_lookup(ssm)
    expect_send(ssm)
    expect_invocation(ssm, "InProgress")
    with pytest.raises(WaitTimeout, match="status InProgress") as raised:
        probe()
    assert not is_transient(raised.value)
