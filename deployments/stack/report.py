"""What the terminal shows after a demo: the checks table and where to look in the UI (pure)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

DETAIL_WIDTH = 72


def table_rows(data: Any) -> list[dict[str, Any]]:
    """Return the rows of a table artifact's data (a JSON list of objects, or the list itself)."""
    rows = json.loads(data) if isinstance(data, str) else data
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("a table artifact holds a list of rows")
    return rows


def format_table(rows: Sequence[dict[str, Any]], *, detail_width: int = DETAIL_WIDTH) -> str:
    """Render rows as a plain-text table; long cells wrap within the last column."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    widths[-1] = min(widths[-1], detail_width)

    def line(values: Sequence[str]) -> list[str]:
        last = textwrap.wrap(values[-1], widths[-1]) or [""]
        first = [v.ljust(w) for v, w in zip(values[:-1], widths[:-1], strict=True)]
        out = ["  ".join([*first, last[0]]).rstrip()]
        pad = "  ".join(" " * w for w in widths[:-1])
        out += [f"{pad}  {more}" for more in last[1:]]
        return out

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([*line(columns), rule, *(text for r in cells for text in line(r))])


def ui_guide(ui_url: str, *, artifact_keys: Sequence[str]) -> str:
    """Where to look in the UI after a demo."""
    lines = [
        f"Prefect UI: {ui_url}",
        f"  runs:        {ui_url}/runs  (click a run: logs, task runs, artifacts)",
        f"  deployments: {ui_url}/deployments  (a deployment's Run button starts it again)",
        f"  work pool:   {ui_url}/work-pools  (kops-nlb and its worker)",
    ]
    lines += [f"  artifact:    {ui_url}/artifacts/key/{key}" for key in artifact_keys]
    return "\n".join(lines)


def headline(markdown: str) -> str | None:
    """Return the first line of a markdown artifact that is neither a heading nor empty."""
    for line in markdown.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return None
