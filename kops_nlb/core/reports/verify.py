"""The verification report: a table of checks and the evidence behind them (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kops_nlb.core.verify.checks import CheckResult
from kops_nlb.core.verify.evidence import EvidenceSummary


def checks_table(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """Rows for a Prefect table artifact: one per check."""
    return [
        {"check": r.name, "result": "pass" if r.passed else "FAIL", "detail": r.detail}
        for r in results
    ]


def failure_message(results: Sequence[CheckResult]) -> str:
    """One message naming every failed check and why."""
    bad = [r for r in results if not r.passed]
    return "verification failed: " + "; ".join(f"{r.name}: {r.detail}" for r in bad)


def _cell(value: object) -> str:
    return str(value if value is not None else "-").replace("|", "\\|")


def evidence_markdown(
    *,
    cluster_name: str,
    summary: EvidenceSummary,
    results: Sequence[CheckResult],
    nlb_dns: str,
    timings: dict[str, float],
) -> str:
    """Render the evidence a person reads to trust (or doubt) the verdict."""
    passed = all(r.passed for r in results)
    verdict = "preserves" if passed else "does NOT prove it preserves"
    lines = [
        f"# Client IP through `{nlb_dns}`",
        "",
        (
            f"**Verdict:** the NLB of `{cluster_name}` {verdict} the client IP "
            f"(probe token `{summary.token}`, bastion `{summary.bastion_ip}`, "
            f"expected policy `{summary.expected_policy}`)."
        ),
        "",
        "## Checks",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *(
            f"| {r.name} | {'pass' if r.passed else '**FAIL**'} | {_cell(r.detail)} |"
            for r in results
        ),
        "",
        "## Client addresses nginx logged for the probes",
        "",
        "| address | requests | what it is |",
        "|---|---|---|",
        *(
            f"| `{a.address}` | {a.count} | {a.kind}{f' ({a.owner})' if a.owner else ''} |"
            for a in summary.client_addresses
        ),
        *_canary_section(summary),
        "",
        "## Per pod",
        "",
        "| pod | node | pod IP | node IP | probe lines | other lines |",
        "|---|---|---|---|---|---|",
        *(
            f"| {_cell(p.pod_name)} | {_cell(p.node_name)} | {_cell(p.pod_ip)} | "
            f"{_cell(p.node_ip)} | {p.probe_lines} | {p.other_lines} |"
            for p in summary.pods
        ),
        "",
        "## Per target (DNS name and each zone's address)",
        "",
        "| target | requests | 200s | statuses | answered by | median s | max s |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {label.label} | {label.count} | {label.ok} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(label.statuses.items()))} | "
            f"{', '.join(label.remote_ips) or '-'} | {_seconds(label.median_s)} | "
            f"{_seconds(label.max_s)} |"
            for label in summary.labels
        ),
        "",
        "## Sample log lines",
        "",
        "```",
        *(
            f'{s.pod_name}: {s.remote_addr} [{s.time}] "{s.request}" {s.status} '
            f'"{s.user_agent or "-"}"'
            for s in summary.samples
        ),
        "```",
        "",
        "## Timings",
        "",
        *(f"- {phase}: {seconds:.2f} s" for phase, seconds in timings.items()),
    ]
    if summary.unmatched_probe_lines:
        lines += ["", f"{summary.unmatched_probe_lines} probe lines matched no request."]
    return "\n".join(lines) + "\n"


def _canary_section(summary: EvidenceSummary) -> list[str]:
    if not summary.canary_addresses:
        return []
    return [
        "",
        "## Negative control: addresses nginx logged for the canary (Cluster)",
        "",
        "| address | requests | what it is |",
        "|---|---|---|",
        *(
            f"| `{a.address}` | {a.count} | {a.kind}{f' ({a.owner})' if a.owner else ''} |"
            for a in summary.canary_addresses
        ),
    ]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
