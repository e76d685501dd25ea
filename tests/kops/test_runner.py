"""The kops runner: argv lists, streamed output, exit codes, time limits, a missing executable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kops_nlb.core.errors import KopsCommandError, SpecError, TransientError
from kops_nlb.core.kops.output import STDERR_TAIL_LINES
from kops_nlb.kops import runner

STATE = "s3://kops-state-123456789012-ap-northeast-1-1a2b3c4d"


def test_run_kops_names_a_missing_executable(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-kops")
    with pytest.raises(SpecError, match="no-such-kops"):
        runner.run_kops(["version"], executable=missing, env={}, timeout=5)


def test_run_kops_raises_with_the_stderr_tail_on_failure() -> None:
    code = "import sys\nfor i in range(30): print(f'err {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(KopsCommandError) as caught:
        runner.run_kops(_python(code), executable=sys.executable, env={}, timeout=30)
    assert caught.value.exit_code == 3
    tail = caught.value.stderr_tail.splitlines()
    assert len(tail) == STDERR_TAIL_LINES
    assert tail[0] == "err 10" and tail[-1] == "err 29"


def _python(code: str) -> list[str]:
    return ["-c", code]


def test_run_kops_streams_every_line_and_keeps_stdout() -> None:
    lines: list[str] = []
    code = (
        "import sys\n"
        "print('line one', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "sys.stdout.write('{\"nodes\":[]}')\n"
    )
    result = runner.run_kops(
        _python(code), executable=sys.executable, env={}, timeout=30, on_line=lines.append
    )
    assert result.exit_code == 0
    assert result.stdout == 'line one\n{"nodes":[]}'
    assert result.stderr == "to stderr\n"
    assert sorted(lines) == sorted(["line one", "to stderr", '{"nodes":[]}'])


def test_run_kops_passes_exactly_the_environment_given() -> None:
    code = "import os; print(os.environ.get('KOPS_STATE_STORE'), os.environ.get('HOME'))"
    result = runner.run_kops(
        _python(code), executable=sys.executable, env={"KOPS_STATE_STORE": STATE}, timeout=30
    )
    assert result.stdout.strip() == f"{STATE} None"


def test_run_kops_accepts_listed_exit_codes() -> None:
    code = "import sys; sys.stdout.write('{}'); sys.exit(1)"
    result = runner.run_kops(
        _python(code), executable=sys.executable, env={}, timeout=30, ok_codes=(0, 1)
    )
    assert (result.exit_code, result.stdout) == (1, "{}")


def test_run_kops_timeout_is_transient() -> None:
    with pytest.raises(runner.KopsTimeout) as caught:
        runner.run_kops(
            _python("import time; time.sleep(5)"), executable=sys.executable, env={}, timeout=0.3
        )
    assert isinstance(caught.value, TransientError)
