"""The kubelets' runtime for curl containers: the machine's real curl, from the pod's address.

A pod whose container image is ``curlimages/curl`` (any tag) runs here instead of as nginx: its
arguments are handed to the real ``curl`` on PATH, with ``--interface <podIP>`` added so the
connection leaves from the pod's address (the node's, for a hostNetwork pod), as the kernel of
a real node would make it. What curl prints to stdout and stderr becomes the container's log,
and its exit code the container's, which the pod runner reports so the Job controller can
finish the Job.

Only what a probe needs is run: the known image, a fixed set of curl options, one ``http://``
URL, output only to ``/dev/null``. Anything else fails the container (exit 2, the reason in its
log) without running anything.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sandbox.dataplane.pod_log import PodLog

log = logging.getLogger(__name__)

CURL_IMAGE = "curlimages/curl"
REFUSED_EXIT = 2
_VALUED = frozenset(
    {"--max-time", "--connect-timeout", "--write-out", "--user-agent", "--resolve", "--output"}
)
_FLAGS = frozenset({"--silent", "--show-error"})
_PROCESS_LIMIT_S = 300.0

OnExit = Callable[[int], None]


def image_repository(image: str) -> str:
    """Return an image reference without its tag or digest (``curlimages/curl:8`` -> repo)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name.removeprefix("docker.io/")


def is_curl_pod(pod: Mapping[str, Any]) -> bool:
    """Tell whether the pod's single container is the curl image this runtime knows."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return len(containers) == 1 and image_repository(containers[0].get("image", "")) == CURL_IMAGE


def curl_arguments(container: Mapping[str, Any]) -> list[str]:
    """Return the container's curl arguments, or raise ValueError naming what is not allowed."""
    if container.get("command"):
        raise ValueError("a command replacing the image's curl entrypoint is not run")
    args = [str(a) for a in container.get("args") or []]
    urls, index = [], 0
    while index < len(args):
        arg = args[index]
        if arg in _FLAGS:
            index += 1
        elif arg in _VALUED:
            if index + 1 >= len(args):
                raise ValueError(f"{arg} needs a value")
            if arg == "--output" and args[index + 1] != "/dev/null":
                raise ValueError("--output may only be /dev/null")
            if arg == "--write-out" and "%output{" in args[index + 1]:
                raise ValueError("--write-out may not write to a file")
            index += 2
        elif arg.startswith("http://") and not arg.startswith("-"):
            urls.append(arg)
            index += 1
        else:
            raise ValueError(f"curl argument {arg!r} is not one this runtime runs")
    if len(urls) != 1:
        raise ValueError(f"exactly one http:// URL is run, got {len(urls)}")
    return args


class ProbeContainers:
    """Runs curl pods as real curl processes; keeps their logs for ``pods/log``."""

    def __init__(self, curl: str | None = None) -> None:
        self._curl = curl or shutil.which("curl")
        self._logs: dict[tuple[str, str], PodLog] = {}
        self._processes: dict[tuple[str, str], subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def start(self, pod: Mapping[str, Any], *, source_ip: str, on_exit: OnExit) -> None:
        """Run the pod's curl from ``source_ip`` in the background; ``on_exit`` gets its exit
        code (``REFUSED_EXIT`` when the pod asks for something this runtime does not run)."""
        meta = pod["metadata"]
        key = (meta.get("namespace") or "default", meta["name"])
        pod_log = PodLog()
        with self._lock:
            self._logs[key] = pod_log
        container = (pod.get("spec") or {}).get("containers", [{}])[0]
        try:
            args = curl_arguments(container)
            if self._curl is None:
                raise ValueError("no curl executable on PATH")
        except ValueError as exc:
            pod_log.append(f"twin container runtime: {exc}")
            on_exit(REFUSED_EXIT)
            return
        argv = [self._curl, "--interface", source_ip, *args]
        thread = threading.Thread(
            target=self._run, args=(key, argv, pod_log, on_exit), daemon=True, name=f"curl-{key[1]}"
        )
        thread.start()

    def _run(self, key: tuple[str, str], argv: list[str], pod_log: PodLog, on_exit: OnExit) -> None:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        with self._lock:
            self._processes[key] = process
        try:
            output, _ = process.communicate(timeout=_PROCESS_LIMIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        with self._lock:
            self._processes.pop(key, None)
        for line in output.splitlines():
            pod_log.append(line)
        log.debug("curl pod %s/%s exited %s", *key, process.returncode)
        if process.returncode >= 0:  # a negative code: stopped because the pod went away
            on_exit(process.returncode)

    def has(self, *, namespace: str, name: str) -> bool:
        """Tell whether this runtime ran (or runs) the pod."""
        return (namespace, name) in self._logs

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None = None,
        tail_lines: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """Return the container's log as ``pods/log`` serves it."""
        pod_log = self._logs.get((namespace, name))
        if pod_log is None:
            return ""
        return pod_log.render(since=since, tail_lines=tail_lines, timestamps=timestamps)

    def stop(self, *, namespace: str, name: str) -> None:
        """Stop the pod's curl if it still runs, and forget its log."""
        with self._lock:
            process = self._processes.pop((namespace, name), None)
            self._logs.pop((namespace, name), None)
        if process is not None and process.poll() is None:
            process.terminate()

    def stop_all(self) -> None:
        """Stop every curl that still runs."""
        with self._lock:
            processes = list(self._processes.values())
            self._processes.clear()
        for process in processes:
            if process.poll() is None:
                process.terminate()
