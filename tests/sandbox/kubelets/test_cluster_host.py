"""Stopping a cluster's machines: every part is stopped, even when one fails to stop."""

from __future__ import annotations

import pytest

from sandbox.kubelets.cluster_host import ClusterHost


class Part:
    def __init__(self, name: str, stopped: list[str], *, fails: bool = False) -> None:
        self.name, self.stopped, self.fails = name, stopped, fails

    def stop(self) -> None:
        self.stopped.append(self.name)
        if self.fails:
            raise OSError(9, "Bad file descriptor")

    close = stop


def test_the_control_plane_is_stopped_even_when_the_kubelets_fail_to_stop() -> None:
    stopped: list[str] = []
    host = ClusterHost.__new__(ClusterHost)  # the parts only: no control plane is booted
    host.runner = Part("kubelets", stopped, fails=True)  # type: ignore[assignment]
    host.logs = Part("log server", stopped)  # type: ignore[assignment]
    host.api = Part("api client", stopped)  # type: ignore[assignment]
    host.control_plane = Part("control plane", stopped)  # type: ignore[assignment]
    with pytest.raises(OSError):
        host.stop()
    assert stopped == ["kubelets", "log server", "api client", "control plane"]
