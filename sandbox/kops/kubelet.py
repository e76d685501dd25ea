"""The twin's stand-in for every kubelet: Nodes turn Ready when their boot time has passed.

``mark_ready_nodes`` is a reconciler: the twin's API server calls it periodically with its
in-process store, and the emulated ``kops validate cluster`` calls it through HTTP before it
looks, so readiness never depends on who runs first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from sandbox.kops.kube import READY_AT_ANNOTATION, ready_condition

NODES = "v1/nodes"


class NodeStore(Protocol):
    """The part of a Kubernetes API the kubelet needs."""

    def list(self, resource: str) -> list[dict[str, Any]]: ...

    def patch(
        self, resource: str, name: str, patch: dict[str, Any], *, subresource: str | None = ...
    ) -> dict[str, Any]: ...


def _ready_at(node: dict[str, Any]) -> float | None:
    value = ((node.get("metadata") or {}).get("annotations") or {}).get(READY_AT_ANNOTATION)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def mark_ready_nodes(kube: NodeStore, *, clock: Callable[[], float] = time.time) -> list[str]:
    """Turn Ready every Node whose ready-at time has passed; return the names it turned."""
    now = clock()
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    turned = []
    for node in kube.list(NODES):
        ready_at = _ready_at(node)
        if ready_at is None or ready_at > now:
            continue
        status = node.get("status") or {}
        conditions = [dict(c) for c in status.get("conditions") or []]
        ready = [c for c in conditions if c.get("type") == "Ready"]
        if ready and ready[0].get("status") == "True":
            continue
        others = [c for c in conditions if c.get("type") != "Ready"]
        patch = {"status": {"conditions": [*others, ready_condition(True, moment)]}}
        kube.patch(NODES, node["metadata"]["name"], patch, subresource="status")
        turned.append(node["metadata"]["name"])
    return turned
