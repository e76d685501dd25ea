"""The seam between the API server's kubelet and the twin's data path that really runs pods."""

from __future__ import annotations

import ipaddress
import threading
from datetime import datetime
from typing import Any, Protocol

POD_CIDR = ipaddress.ip_network("100.96.0.0/16")


class PodRuntime(Protocol):
    """What the kubelet asks of whatever serves a pod's containers."""

    def start(self, pod: dict[str, Any]) -> bool:
        """Start serving ``pod`` (spec, status.podIP, status.hostIP set); True once ready.

        Called again on later passes while it returns False; must be idempotent.
        """
        ...

    def stop(self, pod: dict[str, Any]) -> None:
        """Stop serving ``pod``; it is being deleted."""
        ...

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str:
        """Return the pod's log text, filtered like ``kubectl logs`` filters it."""
        ...


class NullPodRuntime:
    """A runtime that serves nothing: pods are ready at once and log nothing."""

    def start(self, pod: dict[str, Any]) -> bool:
        """Report the pod ready."""
        return True

    def stop(self, pod: dict[str, Any]) -> None:
        """Do nothing."""

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str:
        """Return an empty log."""
        return ""


class CounterPodIps:
    """The default pod IP allocator: consecutive addresses of 100.96.0.0/16."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, pod: dict[str, Any]) -> str:
        """Return the next address."""
        with self._lock:
            self._next += 1
            offset = self._next % (POD_CIDR.num_addresses - 2) or 1
        return str(POD_CIDR.network_address + offset)

    def reset(self) -> None:
        """Start again from the first address."""
        with self._lock:
            self._next = 0
