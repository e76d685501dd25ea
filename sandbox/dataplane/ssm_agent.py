"""The SSM agent of the twin's instances: runs ``AWS-RunShellScript`` scripts for real.

The twin's SSM hands each invocation to ``ShellAgent.run`` (its command executor). The script
runs like the real agent runs it: the commands joined with newlines into ``_script.sh`` in an
orchestration directory of its own (also the working directory), started as ``bash -c
<script>`` in a process group of its own, with stdout/stderr captured to files. A non-zero exit
is ``Failed`` with ``failed to run commands: exit status N`` appended to stderr; a script still
running at ``timeout_s`` has its whole process group killed (SIGKILL) and is ``TimedOut`` with
response code 137, as the agent reports it. Background jobs left behind are killed too.

Names resolve the way the instance's VPC DNS would answer them: ``set_hosts`` writes a hosts
file, and each script runs in a private mount namespace (``unshare --mount --propagation
private``) where that file is bind-mounted read-only over ``/etc/hosts``. The machine's own
``/etc/hosts`` is never written; the wrapper refuses to mount unless its mount namespace
differs from the agent's. Where namespaces are not permitted, scripts run without the override
and their stderr says so.

The instance's private address: with ``RunRequest.private_ip`` set, curl and wget in the script
connect from it by default (``CURL_HOME``/``WGETRC`` point at rc files that set it), so the
pods see the instance's address as they would on AWS. Other clients use the kernel's default
(127.0.0.1) unless told otherwise. The script's environment is minimal (PATH, LANG and the
agent's ``AWS_SSM_*`` variables): nothing of the caller's environment (credentials included)
reaches it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Self

log = logging.getLogger(__name__)

RunStatus = Literal["Success", "Failed", "TimedOut"]
TIMED_OUT_CODE = 137  # the agent's code for a command stopped before it finished (128 + SIGKILL)
SETUP_FAILED_CODE = 125
MAX_OUTPUT_BYTES = 1 << 20  # per stream; GetCommandInvocation shows far less (24,000 / 8,000)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MARKER = "ssm-agent twin:"
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?")
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGPIPE: "broken pipe",
}
# Runs inside the new mount namespace: refuse unless it really is a different one, then put
# the hosts file over /etc/hosts (read-only) and exec the script.  $1: the agent's namespace,
# $2: the hosts file, rest: the command.
_WRAPPER = f"""
ns=$(readlink /proc/self/ns/mnt) || {{ echo "{_MARKER} cannot read the mount namespace" >&2; exit {SETUP_FAILED_CODE}; }}
[ "$ns" != "$1" ] || {{ echo "{_MARKER} not in a private mount namespace" >&2; exit {SETUP_FAILED_CODE}; }}
mount --bind -o ro "$2" /etc/hosts 2>/dev/null || mount --bind "$2" /etc/hosts || {{ echo "{_MARKER} cannot bind-mount the hosts file" >&2; exit {SETUP_FAILED_CODE}; }}
shift 2
exec "$@"
"""


@dataclass(frozen=True)
class RunRequest:
    """One Run Command invocation as the agent receives it."""

    command_id: str
    instance_id: str
    commands: list[str]
    timeout_s: float
    private_ip: str | None = None  # the instance's private address (curl/wget connect from it)
    region: str | None = None
    working_directory: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How the invocation ended, as the agent reports it (output not yet truncated)."""

    status: RunStatus
    response_code: int
    stdout: str
    stderr: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    isolated: bool = False  # whether the script saw the twin's hosts file


def render_hosts(mapping: dict[str, list[str]]) -> str:
    """Return hosts-file text for ``name -> addresses`` (validated: loopback IPv4, DNS names)."""
    lines = [
        "# Name resolution of the twin's VPC, as its instances see it (written by ShellAgent).",
        "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4",
        "::1         localhost6 localhost6.localdomain6",
    ]
    for name in sorted(mapping):
        if not _HOSTNAME.fullmatch(name):
            raise ValueError(f"host name {name!r} is not a DNS name")
        for ip in mapping[name]:
            try:
                address = ipaddress.IPv4Address(ip)
            except ValueError:
                raise ValueError(f"address {ip!r} of {name} is not IPv4") from None
            if address not in _LOOPBACK:
                raise ValueError(f"address {ip} of {name} is outside 127.0.0.0/8")
            lines.append(f"{address}\t{name.rstrip('.')}")
    return "\n".join(lines) + "\n"


class ShellAgent:
    """Runs Run Command scripts with a real shell; thread-safe, one process group per run."""

    def __init__(
        self,
        *,
        root: Path | None = None,
        isolate: bool | None = None,
        region: str = "ap-northeast-1",
        shell: str = "bash",
        max_output_bytes: int = MAX_OUTPUT_BYTES,
    ) -> None:
        """``isolate``: None probes whether a private mount namespace works (the default),
        False never tries (scripts see the machine's /etc/hosts), True requires it."""
        self._own_root = root is None
        self._root = Path(tempfile.mkdtemp(prefix="twin-ssm-agent-")) if root is None else root
        self._root.mkdir(parents=True, exist_ok=True)
        self._hosts_path = self._root / "hosts"
        self._hosts_text: str | None = None
        self._hosts_lock = threading.Lock()
        self._region = region
        self._shell = shell
        self._max_output = max_output_bytes
        self._isolate = isolate
        self._probe_lock = threading.Lock()
        self._isolation_problem: str | None = None
        self._probed = False
        self.set_hosts({})

    # hosts ------------------------------------------------------------------------------------
    @property
    def hosts_file(self) -> Path:
        """The hosts file scripts see as /etc/hosts."""
        return self._hosts_path

    def set_hosts(self, mapping: dict[str, list[str]]) -> None:
        """Publish ``name -> addresses`` to every script, running ones too (no-op if unchanged).

        The first version is written whole and renamed into place; later ones overwrite the
        same file in one write, padded to at least the old length, because a running script's
        /etc/hosts is a bind mount of that very file (a new file would stay unseen to it, as a
        changed DNS answer would not be to a long-running client on AWS).
        """
        text = render_hosts(mapping)
        with self._hosts_lock:
            if text == self._hosts_text:
                return
            if self._hosts_text is not None and self._hosts_path.exists():
                data = text.encode()
                old_size = self._hosts_path.stat().st_size
                if len(data) < old_size:
                    data += b"#" + b" " * (old_size - len(data) - 2) + b"\n"
                fd = os.open(self._hosts_path, os.O_WRONLY)
                try:
                    os.pwrite(fd, data, 0)
                finally:
                    os.close(fd)
                self._hosts_text = text
                return
            fd, tmp = tempfile.mkstemp(dir=self._root, prefix=".hosts-")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)
                os.replace(tmp, self._hosts_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._hosts_text = text

    # isolation ------------------------------------------------------------------------------
    @property
    def isolation_problem(self) -> str | None:
        """Why scripts cannot get the twin's hosts file (None when they can)."""
        self._probe()
        return self._isolation_problem

    @property
    def isolated(self) -> bool:
        """Whether scripts run in a private mount namespace with the twin's hosts file."""
        return self.isolation_problem is None

    def _probe(self) -> None:
        with self._probe_lock:
            if self._probed:
                return
            self._isolation_problem = self._find_isolation_problem()
            self._probed = True
            if self._isolation_problem:
                if self._isolate:
                    raise RuntimeError(
                        f"private mount namespace required: {self._isolation_problem}"
                    )
                log.warning("SSM agent twin without hosts override: %s", self._isolation_problem)

    def _find_isolation_problem(self) -> str | None:
        if self._isolate is False:
            return "disabled (isolate=False)"
        for tool in ("unshare", "mount"):
            if shutil.which(tool, path=PATH) is None:
                return f"{tool} not found"
        try:
            own = os.readlink("/proc/self/ns/mnt")
        except OSError as exc:
            return f"cannot read the mount namespace: {exc}"
        check = ["sh", "-c", 'grep -q "written by ShellAgent" /etc/hosts']
        try:
            done = subprocess.run(
                self._isolated_argv(own, check),
                capture_output=True,
                text=True,
                timeout=20,
                env={"PATH": PATH, "LANG": "C.UTF-8"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare failed: {exc}"
        if done.returncode != 0:
            detail = (done.stderr or "").strip().splitlines()
            return detail[-1] if detail else f"unshare exited {done.returncode}"
        return None

    def _isolated_argv(self, own_namespace: str, command: list[str]) -> list[str]:
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            _WRAPPER,
            "sh",
            own_namespace,
            str(self._hosts_path),
            *command,
        ]

    # running ----------------------------------------------------------------------------------
    def run(self, request: RunRequest) -> RunOutcome:
        """Run one invocation to its end (or its timeout) and return the outcome."""
        isolated = self.isolated
        started = datetime.now(UTC)
        instance_dir = self._root / _safe(request.instance_id)
        run_dir = (
            instance_dir
            / "document"
            / "orchestration"
            / _safe(request.command_id)
            / "awsrunShellScript"
            / "0.awsrunShellScript"
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        script = run_dir / "_script.sh"
        script.write_text("\n".join(request.commands) + "\n")
        script.chmod(0o700)
        cwd = Path(request.working_directory) if request.working_directory else run_dir
        if not cwd.is_dir():
            return RunOutcome(
                status="Failed",
                response_code=1,
                stdout="",
                stderr=f"Working directory {cwd} doesn't exist.",
                started_at=started,
                ended_at=datetime.now(UTC),
                isolated=isolated,
            )
        command = [self._shell, "-c", shlex.quote(str(script))]
        argv = (
            self._isolated_argv(os.readlink("/proc/self/ns/mnt"), command) if isolated else command
        )
        env = self._environment(request, instance_dir)
        stdout_path, stderr_path = run_dir / "stdout", run_dir / "stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            timed_out = False
            try:
                code = process.wait(timeout=max(request.timeout_s, 0.001))
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(process.pid)
                code = process.wait()
            finally:
                _kill_group(process.pid)  # background jobs the script left behind
        stdout = _read_head(stdout_path, self._max_output)
        stderr = _read_head(stderr_path, self._max_output)
        if not isolated:
            stderr = (
                f"{_MARKER} no private mount namespace ({self._isolation_problem}): this script "
                "sees the machine's /etc/hosts, so names published with set_hosts() do not "
                "resolve\n" + stderr
            )
        status, response_code, stderr = _outcome(code, timed_out, stderr)
        return RunOutcome(
            status=status,
            response_code=response_code,
            stdout=stdout,
            stderr=stderr,
            started_at=started,
            ended_at=datetime.now(UTC),
            isolated=isolated,
        )

    __call__ = run

    def _environment(self, request: RunRequest, instance_dir: Path) -> dict[str, str]:
        env = {
            "PATH": PATH,
            "LANG": "C.UTF-8",
            "AWS_SSM_INSTANCE_ID": request.instance_id,
            "AWS_SSM_REGION_NAME": request.region or self._region,
        }
        if request.private_ip:
            ip = ipaddress.IPv4Address(request.private_ip)
            if ip not in _LOOPBACK:
                raise ValueError(f"private_ip {ip} is outside 127.0.0.0/8")
            (instance_dir / ".curlrc").write_text(f'interface = "{ip}"\n')
            (instance_dir / ".wgetrc").write_text(f"bind_address = {ip}\n")
            env["CURL_HOME"] = str(instance_dir)
            env["WGETRC"] = str(instance_dir / ".wgetrc")
        return env

    def close(self) -> None:
        """Remove the agent's directory when it made it itself."""
        if self._own_root:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(code: int, timed_out: bool, stderr: str) -> tuple[RunStatus, int, str]:
    """Return status, response code and final stderr the way the agent reports an exit."""
    if timed_out:
        return "TimedOut", TIMED_OUT_CODE, stderr
    if code == 0:
        return "Success", 0, stderr
    if code == SETUP_FAILED_CODE and _MARKER in stderr:
        return "Failed", code, stderr
    if code < 0:
        try:
            reason = _SIGNAL_NAMES.get(signal.Signals(-code), f"signal {-code}")
        except ValueError:
            reason = f"signal {-code}"
        message, response = f"failed to run commands: signal: {reason}", -1
    else:
        message, response = f"failed to run commands: exit status {code}", code
    separator = "" if not stderr or stderr.endswith("\n") else "\n"
    return "Failed", response, f"{stderr}{separator}{message}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_head(path: Path, limit: int) -> str:
    with path.open("rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _safe(name: str) -> str:
    """Return ``name`` usable as one path component."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
    return "_" if cleaned in (".", "..") else cleaned
