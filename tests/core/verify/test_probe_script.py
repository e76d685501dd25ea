"""The probe script: validated inputs, quoted values, bounded output, and what curl really prints.

The scripts are run for real, with bash and with POSIX sh, against small HTTP servers on
127.0.0.1 (curl bound with ``--interface 127.0.0.1``, as the bastion binds its private address).
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kops_nlb.core.verify.evidence import ProbeResult
from kops_nlb.core.verify.probe_script import (
    MAX_OUTPUT_CHARS,
    ProbeTarget,
    _render_commands,
    build_probe_script,
    max_output_chars,
    max_script_duration_s,
    new_probe_token,
    parse_probe_output,
    probe_path,
    probe_seq,
    probe_user_agent,
)

TOKEN = "0123456789ab"
SOURCE = "127.0.0.1"
SHELLS = ["bash", "dash"]  # Debian's /bin/sh is dash: the script must run under both

# --- local servers ---------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the test server received it."""

    client: str
    path: str
    user_agent: str | None


@dataclass
class RecordingServer:
    """An HTTP server on 127.0.0.1 that answers 200 and records who asked what."""

    port: int
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    """A threaded HTTP server on 127.0.0.1, port chosen by the kernel."""
    recorder = RecordingServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorder.seen.append(
                Seen(self.client_address[0], self.path, self.headers.get("User-Agent"))
            )
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def run_script(commands: list[str], shell: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the commands as AWS-RunShellScript does: one line each, in one script file."""
    script = cwd / "_script.sh"
    script.write_text("\n".join(commands) + "\n")
    return subprocess.run(
        [shell, str(script)], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# --- running the script ----------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_probes_are_marked_bound_and_reported(
    http_server: RecordingServer, shell: str, tmp_path: Path
) -> None:
    """Each request carries its marks, comes from the source address, and prints its line."""
    targets = [
        ProbeTarget(label="dns", host="localhost", port=http_server.port),
        ProbeTarget(
            label="az:local-1a",
            host="nlb-0123.elb.ap-northeast-1.amazonaws.com",
            port=http_server.port,
            resolve_ip="127.0.0.1",
        ),
    ]
    commands = build_probe_script(
        token=TOKEN, targets=targets, requests_per_target=3, source_ip=SOURCE, timeout_s=5
    )

    done = run_script(commands, shell, tmp_path)

    assert done.returncode == 0
    assert done.stderr == ""
    assert f"PROBE-DONE {TOKEN} 6" in done.stdout.splitlines()
    assert len(done.stdout) <= max_output_chars(
        token=TOKEN, targets=targets, requests_per_target=3, timeout_s=5
    )
    assert [(s.client, s.path, s.user_agent) for s in http_server.seen] == [
        ("127.0.0.1", f"/?probe={TOKEN}&i={n}", f"nlb-probe/{TOKEN}-{ti}-{n}")
        for ti, n in [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (1, 6)]
    ]
    results = parse_probe_output(done.stdout)
    assert [(r.label, r.seq, r.target_index) for r in results] == [
        ("dns", 1, 0),
        ("dns", 2, 0),
        ("dns", 3, 0),
        ("az:local-1a", 4, 1),
        ("az:local-1a", 5, 1),
        ("az:local-1a", 6, 1),
    ]
    for result, seen in zip(results, http_server.seen, strict=True):
        assert result.ok
        assert (result.status, result.curl_exit) == (200, 0)
        assert (result.remote_ip, result.remote_port) == ("127.0.0.1", http_server.port)
        assert result.time_s is not None and 0 <= result.time_s < 5
        assert (result.user_agent, result.path) == (seen.user_agent, seen.path)


@pytest.mark.parametrize("shell", SHELLS)
def test_failed_requests_print_000_and_the_script_goes_on(
    http_server: RecordingServer, closed_port: int, silent_port: int, shell: str, tmp_path: Path
) -> None:
    """Refused and timed-out requests print code 000 with curl's exit; later targets still run."""
    targets = [
        ProbeTarget(label="refused", host="127.0.0.1", port=closed_port),
        ProbeTarget(label="silent", host="127.0.0.1", port=silent_port),
        ProbeTarget(label="fine", host="127.0.0.1", port=http_server.port),
    ]
    commands = build_probe_script(
        token=TOKEN, targets=targets, requests_per_target=1, source_ip=SOURCE, timeout_s=0.5
    )

    done = run_script(commands, shell, tmp_path)

    assert done.returncode == 0
    results = parse_probe_output(done.stdout)
    assert [(r.label, r.status, r.curl_exit, r.remote_ip, r.remote_port) for r in results] == [
        ("refused", 0, 7, None, None),
        ("silent", 0, 28, "127.0.0.1", silent_port),
        ("fine", 200, 0, "127.0.0.1", http_server.port),
    ]
    assert not results[0].ok and not results[1].ok and results[2].ok
    # The timeout shows as curl's exit 28 with code 000 (asserted above); curl's own clock may
    # stop a hair short of the limit, so its reported time is only required to be present.
    assert results[1].time_s is not None


def _unchecked_target(label: str, host: str, port: int, resolve_ip: str | None) -> ProbeTarget:
    """Return a ProbeTarget that skipped validation, to test the quoting layer on its own."""
    target = object.__new__(ProbeTarget)
    for name, value in {
        "label": label,
        "host": host,
        "port": port,
        "resolve_ip": resolve_ip,
    }.items():
        object.__setattr__(target, name, value)
    return target


HOSTILE_LABEL = "x';touch${IFS}pwned-label;'$(touch${IFS}pwned-sub)`touch${IFS}pwned-tick`\"%s%n\\n"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("label", HOSTILE_LABEL, id="label"),
        pytest.param("host", "localhost;touch${IFS}pwned-host", id="host-semicolon"),
        pytest.param("host", "localhost$(touch pwned-host-sub)", id="host-subst"),
        pytest.param("resolve_ip", "127.0.0.1$(touch pwned-resolve)", id="resolve-subst"),
        pytest.param("source_ip", "127.0.0.1$(touch pwned-source)", id="source-subst"),
        pytest.param("token", "$(touch pwned-token)", id="token-subst"),
        pytest.param("timeout", "1;touch pwned-timeout", id="timeout-semicolon"),
    ],
)
def test_hostile_values_reach_the_shell_only_as_data(
    http_server: RecordingServer, field: str, value: str, tmp_path: Path
) -> None:
    """Even with validation bypassed, quoting keeps every value inert; each request still prints."""
    target = {"label": "dns", "host": "localhost", "port": http_server.port, "resolve_ip": None}
    rendering = {"token": TOKEN, "source_ip": SOURCE, "timeout": "2", "family_flag": "-4"}
    if field in target:
        target[field] = value
    else:
        rendering[field] = value
    commands = _render_commands(
        targets=[_unchecked_target(**target)],  # type: ignore[arg-type]
        requests_per_target=2,
        **rendering,
    )

    done = run_script(commands, "bash", tmp_path)

    assert done.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_script.sh"]
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert len(lines) == 2
    if field == "label":
        results = parse_probe_output(done.stdout)
        assert [r.label for r in results] == [HOSTILE_LABEL, HOSTILE_LABEL]
        assert all(r.ok for r in results)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"label": ""}, id="empty-label"),
        pytest.param({"label": "a b"}, id="label-space"),
        pytest.param({"label": "dns;id"}, id="label-semicolon"),
        pytest.param({"label": "$(id)"}, id="label-subst"),
        pytest.param({"label": "-dns"}, id="label-dash-first"),
        pytest.param({"label": "x" * 64}, id="label-long"),
        pytest.param({"host": ""}, id="empty-host"),
        pytest.param({"host": "nlb example.com"}, id="host-space"),
        pytest.param({"host": "nlb.example.com;id"}, id="host-semicolon"),
        pytest.param({"host": "-nlb.example.com"}, id="host-dash-first"),
        pytest.param({"host": "nlb..example.com"}, id="host-empty-label"),
        pytest.param({"host": "a" * 64 + ".example.com"}, id="host-label-long"),
        pytest.param({"host": ".".join(["abcdefgh"] * 30)}, id="host-long"),
        pytest.param({"host": "http://nlb.example.com"}, id="host-url"),
        pytest.param({"port": 0}, id="port-0"),
        pytest.param({"port": 65536}, id="port-high"),
        pytest.param({"port": True}, id="port-bool"),
        pytest.param({"port": "80"}, id="port-str"),
        pytest.param({"resolve_ip": "10.0.0"}, id="resolve-short"),
        pytest.param({"resolve_ip": "10.0.0.1;id"}, id="resolve-semicolon"),
        pytest.param({"resolve_ip": "localhost"}, id="resolve-name"),
    ],
)
def test_probe_target_rejects(fields: dict[str, Any]) -> None:
    """A target with an odd label, host, port or address is refused at construction."""
    values: dict[str, Any] = {"label": "dns", "host": "nlb.example.com", "port": 80, **fields}
    with pytest.raises(ValueError):
        ProbeTarget(**values)


def test_probe_target_rejects_non_string_ip() -> None:
    """A resolve_ip that is not even a string is a type error."""
    with pytest.raises(TypeError):
        ProbeTarget(label="dns", host="nlb.example.com", resolve_ip=1234)  # type: ignore[arg-type]


def test_probe_target_normalises_addresses() -> None:
    """Addresses are kept in canonical form; IP literals and a trailing-dot name are hosts."""
    assert ProbeTarget(label="v6", host="::1", resolve_ip="0:0::1").resolve_ip == "::1"
    assert ProbeTarget(label="ip", host="10.0.0.1").host == "10.0.0.1"
    assert ProbeTarget(label="fqdn", host="nlb.example.com.").host == "nlb.example.com."


GOOD: dict[str, Any] = {
    "token": TOKEN,
    "targets": [ProbeTarget(label="dns", host="nlb.example.com")],
    "requests_per_target": 10,
    "source_ip": "10.0.1.5",
    "timeout_s": 5,
}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"token": ""}, id="token-empty"),
        pytest.param({"token": "0123"}, id="token-short"),
        pytest.param({"token": "0123456789AB"}, id="token-upper"),
        pytest.param({"token": "0123456789xz"}, id="token-not-hex"),
        pytest.param({"token": "01234567;id"}, id="token-semicolon"),
        pytest.param({"token": "0" * 33}, id="token-long"),
        pytest.param({"targets": []}, id="no-targets"),
        pytest.param(
            {
                "targets": [
                    ProbeTarget(label="dns", host="a.example"),
                    ProbeTarget(label="dns", host="b.example"),
                ]
            },
            id="duplicate-labels",
        ),
        pytest.param({"requests_per_target": 0}, id="requests-0"),
        pytest.param({"requests_per_target": 1001}, id="requests-high"),
        pytest.param({"requests_per_target": True}, id="requests-bool"),
        pytest.param({"requests_per_target": 2.0}, id="requests-float"),
        pytest.param({"source_ip": "10.0.1"}, id="source-short"),
        pytest.param({"source_ip": "10.0.1.5 "}, id="source-space"),
        pytest.param({"source_ip": "bastion"}, id="source-name"),
        pytest.param({"timeout_s": 0}, id="timeout-0"),
        pytest.param({"timeout_s": -1}, id="timeout-negative"),
        pytest.param({"timeout_s": 301}, id="timeout-high"),
        pytest.param({"timeout_s": True}, id="timeout-bool"),
        pytest.param({"timeout_s": "5"}, id="timeout-str"),
        pytest.param(
            {"targets": [ProbeTarget(label="az:a", host="nlb.example.com", resolve_ip="fd00::1")]},
            id="family-mismatch",
        ),
    ],
)
def test_build_rejects(changes: dict[str, Any]) -> None:
    """Bad tokens, counts, addresses and timeouts never become a script."""
    with pytest.raises(ValueError):
        build_probe_script(**{**GOOD, **changes})


def test_build_refuses_output_that_could_reach_the_ssm_limit() -> None:
    """Too many requests x targets is refused with a message naming the limit."""
    targets = [
        ProbeTarget(label="dns", host="nlb.example.com"),
        *(ProbeTarget(label=f"az:ap-northeast-1{z}", host="nlb.example.com") for z in "acd"),
    ]
    with pytest.raises(ValueError, match="24,000"):
        build_probe_script(**{**GOOD, "targets": targets, "requests_per_target": 100})
    assert build_probe_script(**{**GOOD, "targets": targets, "requests_per_target": 30})


def test_output_bound_covers_the_longest_possible_lines() -> None:
    """max_output_chars is at least what the longest fields curl could print would take."""
    targets = [
        ProbeTarget(label="l" * 63, host="nlb.example.com"),
        ProbeTarget(label="az:ap-northeast-1a", host="nlb.example.com", resolve_ip="10.0.0.9"),
    ]
    requests, timeout = 40, 30.0
    bound = max_output_chars(
        token=TOKEN, targets=targets, requests_per_target=requests, timeout_s=timeout
    )
    longest_time = f"{timeout * 2 + 10:.6f}"  # curl overrunning --max-time twice over
    seq, lines = 0, []
    for index, target in enumerate(targets):
        for _ in range(requests):
            seq += 1
            ua = probe_user_agent(TOKEN, index, seq)
            lines.append(f"PROBE {target.label} {ua} 000 {'f' * 45} 65535 {longest_time} 255\n")
    lines.append(f"PROBE-DONE {TOKEN} {seq}\n")
    worst = "".join(lines)
    assert len(worst) <= bound <= MAX_OUTPUT_CHARS
    assert len(parse_probe_output(worst)) == seq


def test_commands_are_single_lines_and_values_are_quoted() -> None:
    """Every command is one line; IPv6 sources use -6 and bracketed --resolve addresses."""
    commands = build_probe_script(
        token=TOKEN,
        targets=[
            ProbeTarget(label="az:a", host="nlb.example.com", port=8080, resolve_ip="fd00::9")
        ],
        requests_per_target=2,
        source_ip="fd00::5",
        timeout_s=2.5,
    )
    assert all("\n" not in command for command in commands)
    text = "\n".join(commands)
    assert "probe_source=fd00::5" in text
    assert "probe_family=-6" in text
    assert "probe_timeout=2.5" in text
    assert "--resolve 'nlb.example.com:8080:[fd00::9]'" in text
    assert "http://nlb.example.com:8080" in text
    assert "set -e" not in text


def test_script_duration_bound() -> None:
    """The script can take at most requests x (timeout + 1 s) when every request times out."""
    targets = [ProbeTarget(label="a", host="x.example"), ProbeTarget(label="b", host="x.example")]
    assert max_script_duration_s(targets=targets, requests_per_target=10, timeout_s=5) == 120


# --- parsing ---------------------------------------------------------------------------------


def _result(**changes: Any) -> ProbeResult:
    values: dict[str, Any] = {
        "label": "dns",
        "seq": 1,
        "target_index": 0,
        "token": TOKEN,
        "user_agent": f"nlb-probe/{TOKEN}-0-1",
        "path": f"/?probe={TOKEN}&i=1",
        "status": 200,
        "remote_ip": "10.0.9.9",
        "remote_port": 80,
        "time_s": 0.0042,
        "curl_exit": 0,
    }
    values.update(changes)
    return ProbeResult(**values)


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        pytest.param(
            f"PROBE dns nlb-probe/{TOKEN}-0-1 200 10.0.9.9 80 0.004200 0\n", [_result()], id="ok"
        ),
        pytest.param(
            f"PROBE dns nlb-probe/{TOKEN}-0-1 200 10.0.9.9 80 0.004200 0\r\n",
            [_result()],
            id="crlf",
        ),
        pytest.param(
            f"PROBE az:ap-northeast-1c nlb-probe/{TOKEN}-2-17 000 - 0 5.001234 28\n",
            [
                _result(
                    label="az:ap-northeast-1c",
                    seq=17,
                    target_index=2,
                    user_agent=f"nlb-probe/{TOKEN}-2-17",
                    path=f"/?probe={TOKEN}&i=17",
                    status=0,
                    remote_ip=None,
                    remote_port=None,
                    time_s=5.001234,
                    curl_exit=28,
                )
            ],
            id="timed-out",
        ),
        pytest.param(
            f"PROBE dns nlb-probe/{TOKEN}-0-1 000 - - - 3\n",
            [_result(status=0, remote_ip=None, remote_port=None, time_s=None, curl_exit=3)],
            id="nothing-from-curl",
        ),
        pytest.param(
            f"PROBE dns nlb-probe/{TOKEN}-0-1 502 fd00::1 80 0.1 0\n",
            [_result(status=502, remote_ip="fd00::1", time_s=0.1)],
            id="http-error-ipv6",
        ),
        pytest.param(
            "\n".join(
                [
                    "Starting probe",
                    f"PROBE-DONE {TOKEN} 1",
                    "PROBE dns curl/8.0 200 10.0.9.9 80 0.1 0",
                    f"PROBE dns nlb-probe/{TOKEN}-0-1 20 10.0.9.9 80 0.1 0",
                    f"PROBE dns nlb-probe/{TOKEN}-0-1 200 10.0.9.9 80 0.1",
                    f"probe dns nlb-probe/{TOKEN}-0-1 200 10.0.9.9 80 0.1 0",
                    "",
                ]
            ),
            [],
            id="unrelated-and-malformed",
        ),
        pytest.param("", [], id="empty"),
    ],
)
def test_parse_probe_output(stdout: str, expected: list[ProbeResult]) -> None:
    """Probe lines become results; everything else is ignored."""
    assert parse_probe_output(stdout) == expected


@pytest.mark.parametrize(
    ("user_agent", "path", "expected"),
    [
        (probe_user_agent(TOKEN, 1, 7), probe_path(TOKEN, 7), 7),
        (probe_user_agent(TOKEN, 1, 7), None, 7),
        ("curl/8.5.0", probe_path(TOKEN, 9), 9),
        (None, probe_path(TOKEN, 9), 9),
        (probe_user_agent("ffffffffffff", 0, 1), probe_path("ffffffffffff", 1), None),
        ("nlb-probe/0123456789ab-x-1", "/", None),
        ("curl/8.5.0", f"/?probe={TOKEN}&i=9&x=1", None),
        (None, None, None),
    ],
)
def test_probe_seq(user_agent: str | None, path: str | None, expected: int | None) -> None:
    """A logged request is this run's n-th by its User-Agent, else by its path."""
    assert probe_seq(token=TOKEN, user_agent=user_agent, path=path) == expected


def test_new_probe_token_is_short_random_hex_the_builder_accepts() -> None:
    """Tokens are 12 lowercase hex characters, different each time, and valid script input."""
    tokens = {new_probe_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) == 12 and int(token, 16) >= 0 and token == token.lower()
    assert build_probe_script(**{**GOOD, "token": tokens.pop()})
