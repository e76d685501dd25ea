"""How kops prints: tabwriter tables, compact JSON, sorted YAML."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import yaml


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return rows aligned the way kops's tabwriter does (tab padding, tab width 8)."""
    columns = len(headers)
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(columns)]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            if i == columns - 1:
                cells.append(text)
            else:
                cell_width = math.ceil((widths[i] + 1) / 8) * 8
                cells.append(text + "\t" * math.ceil((cell_width - len(text)) / 8))
        lines.append("".join(cells))
    return "\n".join(lines) + "\n"


def to_json(obj: Any) -> str:
    """Return ``obj`` as kops prints JSON: compact, no trailing newline."""
    return json.dumps(obj, separators=(",", ":"))


def to_yaml(obj: Any) -> str:
    """Return ``obj`` as kops prints YAML: keys sorted, block style."""
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
