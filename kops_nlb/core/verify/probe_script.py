"""Build the shell script the bastion runs to probe the NLB, and read back what it printed.

The script goes to SSM's ``AWS-RunShellScript`` as its ``commands`` list. Each request is
marked with a per-run token twice, in the path (``/?probe=<token>&i=<n>``) and in the
User-Agent (``nlb-probe/<token>-<target index>-<n>``), with ``n`` numbering every request of
the run from 1, so both marks are unique and its nginx log line can be picked out of unrelated
traffic. curl binds to the bastion's private address (``--interface``), the address the pods
must log when the NLB preserves the client IP.

Safety: every input is validated first (hex token, IP addresses, DNS names, plain labels), and
every value that reaches the script is ``shlex.quote``-d as well, so neither layer alone has to
be perfect. The script is POSIX sh (it runs under bash, and under dash too), never uses
``set -e`` and never aborts half-way: a failed request prints its line with code ``000`` and
curl's exit code. One line per request, whose worst-case length is computed up front, keeps the
output far below the 24,000 characters SSM returns.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
import shlex
from dataclasses import dataclass

from kops_nlb.core.verify.evidence import ProbeResult

USER_AGENT_PREFIX = "nlb-probe/"
LINE_PREFIX = "PROBE"
DONE_PREFIX = "PROBE-DONE"
# SSM keeps the first 24,000 characters of stdout; stay well below.
MAX_OUTPUT_CHARS = 20_000
MAX_REQUESTS_PER_TARGET = 1000
MAX_TARGETS = 32
MAX_TIMEOUT_S = 300.0
TOKEN_BYTES = 6

_TOKEN = re.compile(r"[0-9a-f]{8,32}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,62}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# What curl's -w prints for one request, in this order, and the longest each can be.
_WRITE_OUT = "%{http_code} %{time_total} %{remote_port} %{remote_ip}"
_MAX_IP_CHARS = 45  # the longest textual IPv6 address (IPv4-mapped form)
_MAX_PORT_CHARS = 5
_MAX_EXIT_CHARS = 3
_RESULT_LINE = re.compile(
    r"PROBE (?P<label>\S+) "
    r"(?P<ua>nlb-probe/(?P<token>[0-9a-f]+)-(?P<ti>[0-9]+)-(?P<seq>[0-9]+)) "
    r"(?P<code>[0-9]{3}) (?P<ip>\S+) (?P<port>\S+) (?P<time>\S+) (?P<exit>[0-9]+)"
)
_PROBE_PATH = re.compile(r"/\?probe=(?P<token>[0-9a-f]+)&i=(?P<seq>[0-9]+)")


@dataclass(frozen=True)
class ProbeTarget:
    """Where one group of requests goes: the NLB's DNS name, optionally pinned to one address.

    ``label`` names the group in the output and the report (``dns``, ``az:ap-northeast-1a``);
    ``resolve_ip`` pins ``host`` to one of the NLB's per-zone addresses (curl ``--resolve``),
    which probes that zone alone.
    """

    label: str
    host: str
    port: int = 80
    resolve_ip: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not _LABEL.fullmatch(self.label):
            raise ValueError(
                f"probe label {self.label!r} must be 1-63 letters, digits, '.', '_', ':' or '-'"
            )
        _check_host(self.host)
        _check_port(self.port)
        if self.resolve_ip is not None:
            object.__setattr__(self, "resolve_ip", _normalise_ip(self.resolve_ip, "resolve_ip"))


def new_probe_token() -> str:
    """Return a fresh random hex token marking one probe run (12 characters)."""
    return secrets.token_hex(TOKEN_BYTES)


def probe_user_agent(token: str, target_index: int, seq: int) -> str:
    """Return the User-Agent of request ``seq`` (1-based, run-wide) to target ``target_index``."""
    return f"{USER_AGENT_PREFIX}{token}-{target_index}-{seq}"


def probe_path(token: str, seq: int) -> str:
    """Return the request path of request ``seq`` of the run marked by ``token``."""
    return f"/?probe={token}&i={seq}"


def probe_seq(*, token: str, user_agent: str | None, path: str | None) -> int | None:
    """Return which request of the run marked by ``token`` a logged request was, else None.

    The User-Agent decides when it carries the mark; the path is the fallback (a proxy may
    rewrite one but seldom both).
    """
    if user_agent and user_agent.startswith(USER_AGENT_PREFIX):
        parts = user_agent[len(USER_AGENT_PREFIX) :].split("-")
        if len(parts) == 3 and parts[0] == token and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[2])
    if path:
        match = _PROBE_PATH.fullmatch(path)
        if match and match["token"] == token:
            return int(match["seq"])
    return None


def max_output_chars(
    *, token: str, targets: list[ProbeTarget], requests_per_target: int, timeout_s: float
) -> int:
    """Return the most characters the script can print for this configuration."""
    time_chars = len(f"{_max_time_total(timeout_s):.6f}")
    fixed = (
        len(LINE_PREFIX)
        + 3  # http code
        + _MAX_IP_CHARS
        + _MAX_PORT_CHARS
        + time_chars
        + _MAX_EXIT_CHARS
        + 8  # seven separating spaces and the newline
    )
    total = 0
    seq = 0
    for index, target in enumerate(targets):
        for _ in range(requests_per_target):
            seq += 1
            total += fixed + len(target.label) + len(probe_user_agent(token, index, seq))
    total_requests = len(targets) * requests_per_target
    total += len(f"{DONE_PREFIX} {token} {total_requests}\n")
    return total


def max_script_duration_s(
    *, targets: list[ProbeTarget], requests_per_target: int, timeout_s: float
) -> float:
    """Return how long the script can run when every request times out (for executionTimeout)."""
    return len(targets) * requests_per_target * (timeout_s + 1.0)


def build_probe_script(
    *,
    token: str,
    targets: list[ProbeTarget],
    requests_per_target: int,
    source_ip: str,
    timeout_s: float,
) -> list[str]:
    """Return the ``commands`` of an AWS-RunShellScript that sends the marked probe requests.

    Raises ValueError for any input that is not what it claims to be, or for a configuration
    whose output could come near SSM's stdout limit.
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError(f"probe token must be 8-32 lowercase hex characters, got {token!r}")
    if not targets:
        raise ValueError("at least one probe target is needed")
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} probe targets, got {len(targets)}")
    if not all(isinstance(t, ProbeTarget) for t in targets):
        raise ValueError("targets must be ProbeTarget values")
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"probe target labels must be unique, got {labels}")
    if (
        isinstance(requests_per_target, bool)
        or not isinstance(requests_per_target, int)
        or not 1 <= requests_per_target <= MAX_REQUESTS_PER_TARGET
    ):
        raise ValueError(
            f"requests_per_target must be 1-{MAX_REQUESTS_PER_TARGET}, got {requests_per_target!r}"
        )
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not 0 < timeout_s <= MAX_TIMEOUT_S
    ):
        raise ValueError(f"timeout_s must be within (0, {MAX_TIMEOUT_S:g}], got {timeout_s!r}")
    source = _normalise_ip(source_ip, "source_ip")
    family = ipaddress.ip_address(source).version
    for target in targets:
        if target.resolve_ip is not None and ipaddress.ip_address(target.resolve_ip).version != (
            family
        ):
            raise ValueError(
                f"target {target.label}: resolve_ip {target.resolve_ip} is not reachable from "
                f"source_ip {source} (different address family)"
            )
    worst = max_output_chars(
        token=token, targets=targets, requests_per_target=requests_per_target, timeout_s=timeout_s
    )
    if worst > MAX_OUTPUT_CHARS:
        raise ValueError(
            f"{len(targets)} targets x {requests_per_target} requests could print {worst} "
            f"characters, above the {MAX_OUTPUT_CHARS} kept well under SSM's 24,000-character "
            "stdout limit: send fewer requests"
        )
    return _render_commands(
        token=token,
        targets=targets,
        requests_per_target=requests_per_target,
        source_ip=source,
        family_flag="-4" if family == 4 else "-6",
        timeout=f"{timeout_s:g}",
    )


def parse_probe_output(stdout: str) -> list[ProbeResult]:
    """Return one ProbeResult per probe line in the script's stdout, ignoring every other line."""
    results = []
    for line in stdout.splitlines():
        match = _RESULT_LINE.fullmatch(line.strip())
        if match is None:
            continue
        token = match["token"]
        seq = int(match["seq"])
        results.append(
            ProbeResult(
                label=match["label"],
                seq=seq,
                target_index=int(match["ti"]),
                token=token,
                user_agent=match["ua"],
                path=probe_path(token, seq),
                status=int(match["code"]),
                remote_ip=_optional(match["ip"]),
                remote_port=_optional_int(match["port"]),
                time_s=_optional_float(match["time"]),
                curl_exit=int(match["exit"]),
            )
        )
    return results


def _render_commands(
    *,
    token: str,
    targets: list[ProbeTarget],
    requests_per_target: int,
    source_ip: str,
    family_flag: str,
    timeout: str,
) -> list[str]:
    """Return the script lines for already validated values; quotes every interpolated value."""
    q = shlex.quote
    commands = [
        f"probe_token={q(token)}",
        f"probe_source={q(source_ip)}",
        f"probe_timeout={q(timeout)}",
        f"probe_family={q(family_flag)}",
        # probe_once LABEL TARGET_INDEX SEQ BASE_URL [extra curl arguments...]
        (
            "probe_once() {"
            ' p_label=$1; p_ua="nlb-probe/${probe_token}-$2-$3"; p_seq=$3; p_url=$4; shift 4;'
            ' p_out=$(curl -q -s -g -o /dev/null "$probe_family" --noproxy "*"'
            ' --interface "$probe_source" --max-time "$probe_timeout" -A "$p_ua"'
            f" -w {q(_WRITE_OUT)}"
            ' "$@" "${p_url}/?probe=${probe_token}&i=${p_seq}" 2>/dev/null); p_rc=$?;'
            " set -f; set -- $p_out; set +f;"
            " printf 'PROBE %s %s %s %s %s %s %s\\n'"
            ' "$p_label" "$p_ua" "${1:-000}" "${4:--}" "${3:--}" "${2:--}" "$p_rc"; }'
        ),
        "n=0",
    ]
    for index, target in enumerate(targets):
        extra = ""
        if target.resolve_ip is not None:
            ip = target.resolve_ip
            pinned = f"[{ip}]" if ":" in ip else ip
            extra = f" --resolve {q(f'{target.host}:{target.port}:{pinned}')}"
        commands.append(
            f"i=0; while [ $i -lt {int(requests_per_target)} ]; do i=$((i + 1)); n=$((n + 1));"
            f" probe_once {q(target.label)} {int(index)} $n {q(_base_url(target))}{extra}; done"
        )
    commands.append('printf \'PROBE-DONE %s %s\\n\' "$probe_token" "$n"')
    commands.append("exit 0")
    return commands


def _base_url(target: ProbeTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"http://{host}:{int(target.port)}"


def _max_time_total(timeout_s: float) -> float:
    """curl may overrun --max-time a little; allow double plus a margin."""
    return math.ceil(timeout_s) * 2 + 10


def _normalise_ip(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be an IP address string, got {value!r}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an IP address") from None


def _check_host(host: object) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(f"probe host must be a DNS name or IP address, got {host!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return
    name = host.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"probe host {host!r} is not a valid DNS name or IP address")


def _check_port(port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"probe port must be 1-65535, got {port!r}")


def _optional(text: str) -> str | None:
    return None if text in ("-", "") else text


def _optional_int(text: str) -> int | None:
    """Return a port, None for curl's 0 or ``-`` (no connection was made)."""
    return int(text) if text.isdigit() and int(text) > 0 else None


def _optional_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
