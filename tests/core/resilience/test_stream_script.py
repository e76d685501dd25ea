"""The stream script: paced, marked, bound to the bastion's address, bounded output; run for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kops_nlb.core.resilience.stream_script import (
    MAX_REQUESTS,
    StreamOutput,
    StreamRequest,
    build_stream_script,
    parse_stream_output,
    stream_seq,
    stream_user_agent,
)
from kops_nlb.core.verify.probe_script import ProbeTarget
from tests.core.verify.test_probe_script import RecordingServer, run_script

TOKEN = "00aa11bb22cc"


def build(port: int, **changes: Any) -> list[str]:
    arguments: dict[str, Any] = {
        "token": TOKEN,
        "target": ProbeTarget(label="dns", host="127.0.0.1", port=port),
        "rate_per_s": 10,
        "duration_s": 1,
        "source_ip": "127.0.0.1",
        "timeout_s": 2.0,
    } | changes
    return build_stream_script(**arguments)


def test_the_stream_is_paced_marked_and_reported(
    http_server: RecordingServer, tmp_path: Path
) -> None:
    done = run_script(build(http_server.port, rate_per_s=5, duration_s=2), "bash", tmp_path)
    assert done.returncode == 0, done.stderr
    output = parse_stream_output(done.stdout)

    assert output.started_epoch_ms is not None
    assert [r.seq for r in output.requests] == list(range(1, 11))
    assert all(r.ok and r.status == 200 for r in output.requests)
    # Request n is sent (n - 1) / rate seconds after the start, never before.
    for request in output.requests:
        assert request.offset_ms >= (request.seq - 1) * 200
    assert sorted(
        stream_seq(token=TOKEN, user_agent=s.user_agent, path=s.path) or 0 for s in http_server.seen
    ) == list(range(1, 11))
    assert {s.client for s in http_server.seen} == {"127.0.0.1"}
    assert f"STREAM-DONE {TOKEN} 10" in done.stdout


def test_refused_requests_are_failures_and_the_stream_goes_on(
    closed_port: int, tmp_path: Path
) -> None:
    done = run_script(build(closed_port), "bash", tmp_path)
    output = parse_stream_output(done.stdout)
    assert len(output.requests) == 10
    assert not any(r.ok for r in output.requests)
    assert {r.status for r in output.requests} == {0}
    assert all(r.curl_exit == 7 for r in output.requests)  # couldn't connect


@pytest.mark.parametrize(
    "changes",
    [
        {"token": "NOT-HEX"},
        {"rate_per_s": 0},
        {"rate_per_s": 21},
        {"duration_s": 0},
        {"rate_per_s": 20, "duration_s": MAX_REQUESTS // 20 + 1},
        {"timeout_s": 0},
        {"timeout_s": 31},
        {"source_ip": "127.0.0.1; rm -rf /"},
    ],
    ids=str,
)
def test_build_rejects(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build(80, **changes)


def test_values_reach_the_script_quoted() -> None:
    commands = build(80, target=ProbeTarget(label="dns", host="a.example.com", port=8080))
    assert "s_url=http://a.example.com:8080" in commands
    assert all("\n" not in line for line in commands)


@pytest.mark.parametrize(
    ("user_agent", "path", "expected"),
    [
        (stream_user_agent(TOKEN, 7), None, 7),
        (None, f"/?stream={TOKEN}&i=9", 9),
        ("nlb-stream/ffffffffffff-7", f"/?stream={TOKEN}&i=9", 9),
        ("curl/8.5", "/", None),
        (None, "/?stream=ffffffffffff&i=1", None),
    ],
)
def test_stream_seq(user_agent: str | None, path: str | None, expected: int | None) -> None:
    assert stream_seq(token=TOKEN, user_agent=user_agent, path=path) == expected


def test_parse_keeps_only_stream_lines() -> None:
    stdout = (
        "noise\nSTREAM-START 00aa11bb22cc 1700000000000\nS 2 100 503 0\nS 1 0 200 0\n"
        "S 3 200 000 28\nS x 1 200 0\nSTREAM-DONE 00aa11bb22cc 3\n"
    )
    assert parse_stream_output(stdout) == StreamOutput(
        started_epoch_ms=1700000000000,
        requests=(
            StreamRequest(seq=1, offset_ms=0, status=200, curl_exit=0),
            StreamRequest(seq=2, offset_ms=100, status=503, curl_exit=0),
            StreamRequest(seq=3, offset_ms=200, status=0, curl_exit=28),
        ),
    )
    assert [r.ok for r in parse_stream_output(stdout).requests] == [True, False, False]


def test_parse_reads_when_a_request_ended() -> None:
    stdout = "STREAM-START 00aa11bb22cc 1700000000000\nS 1 950 000 56 1210\nS 2 1000 200 0 1004\n"
    failed, answered = parse_stream_output(stdout).requests
    assert (failed.ended_ms, failed.felt_ms) == (1210, 1210)  # a failure counts when it ended
    assert (answered.ended_ms, answered.felt_ms) == (1004, 1000)  # a success when it was sent
