"""SIGKILL of a flow run at a chosen point: the flow runs in a child process (its own process
group, kops included), and the parent kills the group the moment the twin shows the point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from chaos.twin import ChaosTwin
from kops_nlb.core.spec import EnvironmentSpec

POLL_S = 0.01
RUN_LIMIT_S = 300.0


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: the ``nth`` new AWS call of ``aws`` (counted once ``after`` was seen, when
    set), the first kops command line holding ``kops``, or the first Kubernetes request with
    ``kube``'s method to a resource holding its fragment."""

    label: str
    aws: tuple[str, str] | None = None
    nth: int = 1
    after: tuple[str, str] | None = None
    kops: str | None = None
    kube: tuple[str, str] | None = None


class _Watch:
    """Tells when a kill point is reached, from the twin's counters since the watch began."""

    def __init__(self, twin: ChaosTwin, point: KillPoint) -> None:
        self.twin, self.point = twin, point
        self.kops_seen = len(twin.kops_lines())
        self.kube_seen = self._kube_count()
        self.aws_seen = twin.world.aws.call_counts[point.aws] if point.aws else 0
        self.after_seen = twin.world.aws.call_counts[point.after] if point.after else 0
        self.armed = point.after is None

    def _kube_count(self) -> int:
        if self.point.kube is None:
            return 0
        method, fragment = self.point.kube
        counts = self.twin.world.api_proxy.call_counts
        return sum(n for (m, r), n in counts.items() if m == method and fragment in r)

    def reached(self) -> bool:
        point, counts = self.point, self.twin.world.aws.call_counts
        if point.kops is not None:
            return any(point.kops in line for line in self.twin.kops_lines()[self.kops_seen :])
        if point.kube is not None:
            return self._kube_count() > self.kube_seen
        if point.aws is None:
            return False
        if not self.armed:
            if counts[point.after] <= self.after_seen:  # type: ignore[index]
                return False
            self.armed, self.aws_seen = True, counts[point.aws]
            return False
        return counts[point.aws] >= self.aws_seen + point.nth


def run_and_kill(
    twin: ChaosTwin, flow_name: str, spec: EnvironmentSpec, point: KillPoint, *, log: Path
) -> str:
    """Run the flow in a child and SIGKILL its process group at the point; return what happened."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    watch = _Watch(twin, point)
    with open(log, "a") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "chaos.child", flow_name, spec.model_dump_json()],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + RUN_LIMIT_S
        while child.poll() is None and time.monotonic() < deadline:
            if watch.reached():
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                return "killed"
            time.sleep(POLL_S)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return "killed at the time limit, the point never reached"
    return f"ended on its own (exit {child.returncode}) before the point"


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def kill_descendants(words: list[str]) -> list[int]:
    """SIGKILL this process's descendants whose command line holds every word; return their ids."""
    me, killed = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ancestor = pid
            while ancestor > 1 and ancestor != me:
                ancestor = _parent_of(ancestor)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if ancestor == me and pid != me and all(w.encode() in argv for w in words):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed
