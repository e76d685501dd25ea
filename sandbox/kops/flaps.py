"""Injected validate flaps: ``kops validate cluster`` fails again after it first passed.

What an operator meets when a node blips NotReady just after the cluster validated. The twin's
``validate_flaps`` fault turns that many passes, after the first, into a failure: one worker node
reported not ready, in real kops's report shape. The count is kept per cluster beside the twin's
config (``kops-faults/<cluster>.json``), never in the state store: real kops refuses to delete a
cluster whose state holds files it does not know.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

NOT_HEALTHY = "Error: validation failed: cluster not yet healthy"  # real kops's words


def faults_dir(config_path: Path) -> Path:
    """Where the twin keeps what it injected, beside its config file."""
    return config_path.parent / "kops-faults"


def flap_now(record: Path, flaps: int, *, has_nodes: bool) -> int | None:
    """Count one passing validation; return which flap it becomes (0, 1, ...), or ``None`` when
    it stays a pass: the first pass, once ``flaps`` were injected, or without nodes to blame."""
    state = json.loads(record.read_text()) if record.exists() else {}
    passes = int(state.get("validate_passes", 0))
    done = int(state.get("validate_flaps_done", 0))
    if passes >= 1 and done < flaps and has_nodes:
        state["validate_flaps_done"] = done + 1
        flap: int | None = done
    else:
        state["validate_passes"] = passes + 1
        flap = None
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(state, sort_keys=True))
    return flap


def not_ready(nodes: list[dict[str, Any]], flap: int) -> dict[str, Any]:
    """Mark the ``flap``-th worker node (round robin) not ready; return it."""
    workers = [n for n in nodes if n.get("role") == "node"] or nodes
    victim = workers[flap % len(workers)]
    victim["status"] = "False"
    return victim


def node_failure(victim: dict[str, Any], instance_group: dict[str, Any]) -> dict[str, Any]:
    """Return kops's report entry for a node that is not ready."""
    return {
        "type": "Node",
        "name": victim["name"],
        "message": f'node "{victim["name"]}" of role "{victim["role"]}" is not ready',
        "instanceGroup": instance_group,
    }


def flapped_report(report: dict[str, Any], flap: int) -> dict[str, Any]:
    """Return a passing report of real kops turned into this flap's failure."""
    nodes = copy.deepcopy(report.get("nodes") or [])
    victim = not_ready(nodes, flap)
    group = {"metadata": {"name": f"nodes-{victim.get('zone', '')}"}, "spec": {"role": "Node"}}
    return {"failures": [node_failure(victim, group)], "nodes": nodes}
