"""Runs the kops executable: an argv list (never a shell string), streamed output, a time limit."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import sh

from kops_nlb.core.errors import SpecError, TransientError
from kops_nlb.core.kops import KopsResult
from kops_nlb.core.kops.failures import kops_command_error


class KopsTimeout(TransientError):
    """A kops command ran past its time limit and was stopped."""


def run_kops(
    argv: list[str],
    *,
    executable: str,
    env: Mapping[str, str],
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    ok_codes: Collection[int] = (0,),
) -> KopsResult:
    """Run kops with ``argv`` and return its result; stream each output line to ``on_line``.

    stdout and stderr lines are both streamed as they come; stdout is kept whole. An exit code
    outside ``ok_codes`` raises KopsCommandError with the last lines of stderr (its transient
    kind when kops failed on throttling, a 5xx or a network timeout); running past
    ``timeout`` seconds raises KopsTimeout (transient); a missing executable raises SpecError.
    """
    out_chunks: list[str] = []
    err_chunks: list[str] = []

    def _sink(chunks: list[str]) -> Callable[[str], None]:
        def _receive(chunk: str) -> None:
            chunks.append(chunk)
            if on_line is not None:
                on_line(chunk.rstrip("\r\n"))

        return _receive

    try:
        command = sh.Command(executable)
    except (sh.CommandNotFound, FileNotFoundError) as exc:
        raise SpecError(
            f"kops executable {executable!r} was not found (install kops 1.34-1.37 or set "
            "KOPS_NLB_KOPS in the worker's environment to its path)"
        ) from exc
    exit_code = 0
    try:
        command(
            *argv,
            _env=dict(env),
            _timeout=timeout,
            _out=_sink(out_chunks),
            _err=_sink(err_chunks),
            _tty_out=False,
            _in=None,
        )
    except sh.ErrorReturnCode as exc:
        exit_code = exc.exit_code
    except sh.TimeoutException as exc:
        raise KopsTimeout(
            f"`kops {' '.join(argv[:2])}` did not finish within {timeout:.0f}s"
        ) from exc
    except FileNotFoundError as exc:
        raise SpecError(f"kops executable {executable!r} could not be run: {exc}") from exc
    result = KopsResult(
        argv=list(argv), exit_code=exit_code, stdout="".join(out_chunks), stderr="".join(err_chunks)
    )
    if exit_code not in ok_codes:
        raise kops_command_error(list(argv), exit_code, result.stderr)
    return result
