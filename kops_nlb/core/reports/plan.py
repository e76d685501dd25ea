"""The plan as markdown: what apply would do, resource by resource, in its order (pure)."""

from __future__ import annotations

from kops_nlb.core.plan import Plan, PlanItem
from kops_nlb.core.plan_cost import HOURS_PER_MONTH, CostEstimate

_MARK = {
    "exists": "✓ exists",
    "will create": "+ will create",
    "will change": "~ will change",
    "blocked": "✗ blocked",
    "unknown": "? unknown",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _headline(plan: Plan) -> str:
    if plan.nothing_to_do:
        return "**Nothing to do**: every resource exists as wanted; provision would write nothing."
    counts = plan.counts()
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    blocked = " Apply would stop at the first blocked resource." if plan.blocked else ""
    return f"**{', '.join(parts)}.**{blocked}"


def _item_detail(item: PlanItem) -> list[str]:
    lines: list[str] = []
    if item.reason:
        lines.append(f"- reason: {item.reason}")
    for c in item.changes:
        lines.append(f"- `{c.field}`: {c.current} → **{c.wanted}**")
    for note in item.notes:
        lines.append(f"- {note}")
    return lines


def _cost(cost: CostEstimate) -> list[str]:
    rows = [
        "## Rough cost (running, per hour)",
        "",
        "| what | priced as | count | USD/hour each | USD/hour |",
        "|---|---|---|---|---|",
    ]
    for line in cost.lines:
        each = "no price" if line.hourly is None else f"{line.hourly:.4f}"
        total = "?" if line.total is None else f"{line.total:.4f}"
        rows.append(f"| {line.what} | {line.kind} | {line.count} | {each} | {total} |")
    rows += [
        "",
        (
            f"About **{cost.hourly:.2f} USD per hour**, {cost.hourly * HOURS_PER_MONTH:.0f} USD per "
            f"{HOURS_PER_MONTH} hours, without EBS volumes, data processed, public IPv4 addresses "
            "and taxes."
        ),
        f"Prices: {cost.source}.",
    ]
    if cost.unpriced:
        rows.append(
            f"No price for {', '.join(cost.unpriced)}: pass them in `price_overrides` "
            "(USD per hour)."
        )
    return rows


def plan_report(plan: Plan) -> str:
    """Render the plan a person reads before approving provision."""
    lines = [
        f"# Plan for `{plan.cluster_name}` ({plan.region})",
        "",
        _headline(plan),
        "",
        "Nothing was written to make this plan: every step was described and decided, none acted.",
        "",
    ]
    if plan.preconditions:
        lines += ["## Preconditions", ""]
        lines += [
            f"- {'✓' if p.ok else '✗'} {p.name}: {_cell(p.detail)}" for p in plan.preconditions
        ]
        lines.append("")
    lines += [
        "## Resources, in the order provision takes them",
        "",
        "| # | step | resource | status |",
        "|---|---|---|---|",
    ]
    for number, item in enumerate(plan.items, 1):
        lines.append(f"| {number} | {item.step} | {_cell(item.resource)} | {_MARK[item.status]} |")
    details = [item for item in plan.items if _item_detail(item)]
    if details:
        lines += ["", "## Details", ""]
        for item in details:
            lines += [f"### {item.step}: {_MARK[item.status]}", "", *_item_detail(item), ""]
    if plan.cost is not None:
        lines += ["", *_cost(plan.cost)]
    return "\n".join(lines).rstrip() + "\n"
