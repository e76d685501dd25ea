"""PNG charts for artifacts, drawn with matplotlib's Agg backend (no display, no files)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Marker:
    """A vertical line on a chart's x axis, with its label."""

    x: float
    label: str


def png_data_uri(png: bytes) -> str:
    """Return a PNG as a data URI, for a Markdown image."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def stream_chart(
    *,
    seconds: Sequence[int],
    ok: Sequence[int],
    failed: Sequence[int],
    markers: Sequence[Marker],
    title: str,
) -> bytes:
    """Return a PNG of requests per second (successes and failures stacked) with event lines."""
    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.subplots()
    axes.bar(seconds, ok, width=1.0, align="edge", color="#4c9a2a", label="succeeded")
    axes.bar(seconds, failed, width=1.0, align="edge", bottom=ok, color="#c0392b", label="failed")
    for marker in markers:
        axes.axvline(marker.x, color="#34495e", linestyle="--", linewidth=1)
        axes.annotate(
            marker.label,
            (marker.x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
        )
    axes.set_xlabel("seconds after the stream started")
    axes.set_ylabel("requests per second")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return _png(figure)


def trend_chart(
    *, labels: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str, title: str
) -> bytes:
    """Return a PNG of one or more series over runs (None leaves a gap)."""
    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.subplots()
    positions = list(range(len(labels)))
    for name, values in series.items():
        axes.plot(
            positions,
            [float("nan") if v is None else v for v in values],
            marker="o",
            markersize=3,
            label=name,
        )
    axes.set_xticks(positions, labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    if series:
        axes.legend(fontsize=7)
    figure.tight_layout()
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
