"""Build the script the bastion runs to stream requests at the NLB, and read what it printed.

The stream sends ``rate_per_s`` requests a second for ``duration_s`` seconds through the NLB's
DNS name, paced from one start time (so a slow or hanging request never slows the rest): each
request runs in the background and prints one short line when it ends,
``S <seq> <ms after start> <http code> <curl exit>``. Requests are marked in the path
(``/?stream=<token>&i=<seq>``) and the User-Agent (``nlb-stream/<token>-<seq>``), so their nginx
log lines are found among other traffic, and curl binds to the bastion's private address.

The same safety rules as the verify probe: every input validated, every interpolated value
``shlex.quote``-d, no ``set -e``, and a line count bounded so stdout stays far below SSM's
24,000 characters.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

from kops_nlb.core.verify.probe_script import ProbeTarget

USER_AGENT_PREFIX = "nlb-stream/"
MAX_REQUESTS = 1200
MAX_RATE_PER_S = 20
MAX_DURATION_S = 600
# Worst case per line: "S " + seq (4) + offset (6) + code (3) + exit (3) + 4 spaces/newline.
_MAX_LINE_CHARS = 24
MAX_OUTPUT_CHARS = 20_000 - 200

_TOKEN = re.compile(r"[0-9a-f]{8,32}")
_START_LINE = re.compile(r"STREAM-START (?P<token>[0-9a-f]+) (?P<epoch_ms>[0-9]+)")
_RESULT_LINE = re.compile(
    r"S (?P<seq>[0-9]+) (?P<offset>-?[0-9]+) (?P<code>[0-9]{3}) (?P<rc>[0-9]+)"
    r"(?: (?P<ended>-?[0-9]+))?"
)
_PATH = re.compile(r"/\?stream=(?P<token>[0-9a-f]+)&i=(?P<seq>[0-9]+)")


@dataclass(frozen=True)
class StreamRequest:
    """One request of the stream: when it was sent and ended (ms after the start), how it
    ended."""

    seq: int
    offset_ms: int
    status: int  # 0 when no HTTP answer came
    curl_exit: int
    ended_ms: int | None = None

    @property
    def ok(self) -> bool:
        """Whether nginx answered it with a success."""
        return self.curl_exit == 0 and 200 <= self.status < 400

    @property
    def felt_ms(self) -> int:
        """When the request's outcome happened: a failure when it ended (a request in flight
        when a node stops fails because of that stop), a success when it was sent."""
        return self.offset_ms if self.ok or self.ended_ms is None else self.ended_ms


@dataclass(frozen=True)
class StreamOutput:
    """What the stream script printed: its start (epoch ms) and every request that ended."""

    started_epoch_ms: int | None
    requests: tuple[StreamRequest, ...]


def stream_request_count(*, rate_per_s: int, duration_s: int) -> int:
    """Return how many requests a stream sends."""
    return rate_per_s * duration_s


def validate_stream(*, rate_per_s: int, duration_s: int, timeout_s: float) -> None:
    """Raise ValueError when the rate, duration or timeout is out of bounds."""
    for name, value, top in (
        ("rate_per_s", rate_per_s, MAX_RATE_PER_S),
        ("duration_s", duration_s, MAX_DURATION_S),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name} must be 1-{top}, got {value!r}")
    total = stream_request_count(rate_per_s=rate_per_s, duration_s=duration_s)
    if total > MAX_REQUESTS or total * _MAX_LINE_CHARS > MAX_OUTPUT_CHARS:
        raise ValueError(
            f"{rate_per_s}/s for {duration_s} s is {total} requests; at most {MAX_REQUESTS} fit "
            "in what SSM returns of the output: lower the rate or the duration"
        )
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise TypeError(f"timeout_s must be a number, got {timeout_s!r}")
    if not 0 < timeout_s <= 30:
        raise ValueError(f"timeout_s must be within (0, 30], got {timeout_s!r}")


def max_stream_duration_s(*, duration_s: int, timeout_s: float) -> float:
    """Return how long the script can run: the stream, then its last request timing out."""
    return duration_s + timeout_s * 2 + 5


def stream_user_agent(token: str, seq: int) -> str:
    """Return the User-Agent of request ``seq`` of the stream marked by ``token``."""
    return f"{USER_AGENT_PREFIX}{token}-{seq}"


def stream_seq(*, token: str, user_agent: str | None, path: str | None) -> int | None:
    """Return which request of the stream a logged request was, else None."""
    if user_agent and user_agent.startswith(USER_AGENT_PREFIX):
        mark, _, seq = user_agent[len(USER_AGENT_PREFIX) :].partition("-")
        if mark == token and seq.isdigit():
            return int(seq)
    match = _PATH.fullmatch(path or "")
    if match and match["token"] == token:
        return int(match["seq"])
    return None


def build_stream_script(
    *,
    token: str,
    target: ProbeTarget,
    rate_per_s: int,
    duration_s: int,
    source_ip: str,
    timeout_s: float,
) -> list[str]:
    """Return the ``commands`` of an AWS-RunShellScript that streams marked requests."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError(f"stream token must be 8-32 lowercase hex characters, got {token!r}")
    if not isinstance(target, ProbeTarget):
        raise TypeError("target must be a ProbeTarget")
    validate_stream(rate_per_s=rate_per_s, duration_s=duration_s, timeout_s=timeout_s)
    try:
        source = str(ipaddress.ip_address(source_ip))
    except ValueError:
        raise ValueError(f"source_ip {source_ip!r} is not an IP address") from None
    q = shlex.quote
    host = f"[{target.host}]" if ":" in target.host else target.host
    base_url = f"http://{host}:{int(target.port)}"
    total = stream_request_count(rate_per_s=rate_per_s, duration_s=duration_s)
    step_ms = 1000 // rate_per_s
    return [
        f"s_token={q(token)}",
        f"s_source={q(source)}",
        f"s_timeout={q(f'{timeout_s:g}')}",
        f"s_url={q(base_url)}",
        "s_start=$(date +%s%3N)",
        'printf \'STREAM-START %s %s\\n\' "$s_token" "$s_start"',
        (
            "s_once() {"
            " s_sent=$(( $(date +%s%3N) - s_start ));"
            ' s_code=$(curl -q -s -o /dev/null --noproxy "*" --interface "$s_source"'
            ' --max-time "$s_timeout" -A "nlb-stream/${s_token}-$1" -w "%{http_code}"'
            ' "${s_url}/?stream=${s_token}&i=$1" 2>/dev/null); s_rc=$?;'
            " s_end=$(( $(date +%s%3N) - s_start ));"
            ' printf \'S %s %s %s %s %s\\n\' "$1" "$s_sent" "${s_code:-000}" "$s_rc" "$s_end"; }'
        ),
        "s_i=0",
        (
            f"while [ $s_i -lt {int(total)} ]; do s_i=$((s_i + 1)); s_once $s_i &"
            f" s_wait=$(( s_start + s_i * {int(step_ms)} - $(date +%s%3N) ));"
            ' if [ $s_wait -gt 0 ]; then sleep "$((s_wait / 1000)).$(printf %03d $((s_wait % 1000)))";'
            " fi; done"
        ),
        "wait",
        'printf \'STREAM-DONE %s %s\\n\' "$s_token" "$s_i"',
        "exit 0",
    ]


def parse_stream_output(stdout: str) -> StreamOutput:
    """Return the stream's start and its requests (by sequence), ignoring every other line."""
    started: int | None = None
    requests: dict[int, StreamRequest] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if (start := _START_LINE.fullmatch(line)) is not None:
            started = int(start["epoch_ms"])
        elif (match := _RESULT_LINE.fullmatch(line)) is not None:
            seq = int(match["seq"])
            requests[seq] = StreamRequest(
                seq=seq,
                offset_ms=int(match["offset"]),
                status=int(match["code"]),
                curl_exit=int(match["rc"]),
                ended_ms=int(match["ended"]) if match["ended"] is not None else None,
            )
    return StreamOutput(
        started_epoch_ms=started, requests=tuple(requests[k] for k in sorted(requests))
    )
