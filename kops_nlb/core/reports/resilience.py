"""The resilience report: what each disruption cost the stream, and the timeline (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kops_nlb.core.reports.plots import Marker, png_data_uri, stream_chart
from kops_nlb.core.resilience.timeline import ClientAddresses, EventImpact, SecondBucket


def _recovery(impact: EventImpact) -> str:
    return "not recovered" if impact.recovery_s is None else f"{impact.recovery_s:.2f} s"


def timeline_chart(
    *, cluster_name: str, seconds: Sequence[SecondBucket], impacts: Sequence[EventImpact]
) -> bytes:
    """Return the PNG of the stream: requests per second, failures, and the disruptions."""
    return stream_chart(
        seconds=[b.second for b in seconds],
        ok=[b.ok for b in seconds],
        failed=[b.failed for b in seconds],
        markers=[Marker(i.at_s, f"{i.kind} lost") for i in impacts],
        title=f"Requests through the NLB of {cluster_name}",
    )


def resilience_markdown(
    *,
    cluster_name: str,
    rate_per_s: int,
    duration_s: int,
    impacts: Sequence[EventImpact],
    seconds: Sequence[SecondBucket],
    addresses: ClientAddresses,
    bastion_ip: str,
    baseline_failed: int,
    restored: Sequence[str],
    problems: Sequence[str],
    chart_png: bytes,
) -> str:
    """Render the report a person reads: verdict, events, address, restore notes, timeline."""
    verdict = "held up" if not problems else "did NOT hold up"
    lines = [
        f"# Resilience of {cluster_name}: the NLB path {verdict}",
        "",
        (
            f"{rate_per_s} requests/s for {duration_s} s from the bastion ({bastion_ip}) through "
            f"the NLB; {baseline_failed} failed before the first disruption."
        ),
        "",
        "| event | at | requests after it | failed | recovery |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {i.kind} lost: {i.name} | {i.at_s:.2f} s | {i.requests} | {i.failed} | {_recovery(i)} |"
        for i in impacts
    ]
    address = "preserved" if addresses.preserved else "NOT preserved"
    lines += [
        "",
        f"**Client address {address}**: nginx logged {addresses.matched} of the stream's requests, "
        f"{addresses.bastion} from the bastion's address"
        + "".join(f", {n} from {a}" for a, n in sorted(addresses.others.items()))
        + ".",
        "",
    ]
    if problems:
        lines += ["## Why it failed", "", *[f"- {p}" for p in problems], ""]
    lines += ["## Restored", "", *[f"- {note}" for note in restored or ["nothing to restore"]], ""]
    lines += [f"![requests per second]({png_data_uri(chart_png)})", ""]
    lines += ["## Timeline", "", "| second | sent | succeeded | failed |", "|---|---|---|---|"]
    lines += [f"| {b.second} | {b.sent} | {b.ok} | {b.failed} |" for b in seconds]
    return "\n".join(lines) + "\n"
