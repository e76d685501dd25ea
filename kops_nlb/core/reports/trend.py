"""The verification trend: the last runs, this run's indicators and the window's verdict (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kops_nlb.core.reports.plots import png_data_uri, trend_chart
from kops_nlb.core.verify.slo import RunRecord, Sli, SloPolicy, WindowVerdict


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def trend_markdown(
    *,
    cluster_name: str,
    runs: Sequence[RunRecord],
    slis: Sequence[Sli],
    verdict: WindowVerdict,
    policy: SloPolicy,
) -> str:
    """Render the trend: verdict over the window, a chart and table of runs, this run's SLIs."""
    state = "BREACHED" if verdict.breached else "met"
    hours = policy.window_s / 3600
    lines = [
        f"# Verification trend of {cluster_name}: objective {state}",
        "",
        (
            f"Objective: {policy.success_ratio:.2%} of requests succeed and p95 latency stays "
            f"under {policy.p95_latency_s * 1000:.0f} ms, over {hours:g} h. Window: "
            f"{verdict.runs} run(s), {verdict.succeeded}/{verdict.requests} succeeded "
            f"({verdict.success_ratio:.2%}), mean p95 {_ms(verdict.mean_p95_s)} ms."
        ),
        "",
        *[f"- {reason}" for reason in verdict.reasons],
        "",
    ]
    chart = trend_chart(
        labels=[r.occurred.strftime("%m-%d %H:%M:%S") for r in runs],
        series={
            "success %": [100 * r.success_ratio for r in runs],
            "p95 ms": [None if r.p95_s is None else r.p95_s * 1000 for r in runs],
        },
        ylabel="success % / p95 ms",
        title=f"Last {len(runs)} verification runs of {cluster_name}",
    )
    lines += [f"![trend]({png_data_uri(chart)})", ""]
    lines += [
        "| run (UTC) | verdict | requests | success | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.occurred:%Y-%m-%d %H:%M:%S} | {'pass' if r.passed else 'FAIL'} | {r.requests} | "
        f"{r.success_ratio:.2%} | {_ms(r.p50_s)} | {_ms(r.p95_s)} |"
        for r in reversed(runs)
    ]
    lines += [
        "",
        "## This run, per zone and per NLB address",
        "",
        "| scope | requests | success | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.scope} {s.key} | {s.requests} | {s.success_ratio:.2%} | {_ms(s.p50_s)} | "
        f"{_ms(s.p95_s)} |"
        for s in slis
    ]
    return "\n".join(lines) + "\n"
