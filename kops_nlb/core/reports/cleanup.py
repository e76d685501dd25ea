"""The report of cleanup after a failed provisioning (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kops_nlb.core.cleanup import CleanupPlan, RemovalOutcome


def cleanup_report(
    *, cluster_name: str, error: str, plan: CleanupPlan, outcomes: Sequence[RemovalOutcome]
) -> str:
    """Render what cleanup removed, could not remove (and why), and kept."""
    removed = [o for o in outcomes if o.result in {"removed", "gone"}]
    failed = [o for o in outcomes if o.result in {"failed", "skipped"}]
    gone = sum(1 for o in removed if o.result == "gone")
    if not plan.removals:
        headline = "This run had created nothing: nothing to remove."
    else:
        headline = (
            f"Removed {len(removed) - gone}{f' ({gone} already gone)' if gone else ''}, "
            f"could not remove {len(failed)}, kept {len(plan.kept)} that existed before the run."
        )
    error_line = error.replace("\n", " ")
    lines = [
        f"# Cleanup after the failed provisioning of `{cluster_name}`",
        "",
        f"> {error_line}",
        "",
        headline,
        "",
        "## Removed",
        "",
        *([f"- {o.action} `{o.target}`: {o.detail}" for o in removed] or ["- nothing"]),
        "",
        "## Could not remove",
        "",
        *([f"- {o.action} `{o.target}`: {o.detail}" for o in failed] or ["- nothing"]),
        "",
        "## Kept (there before this run)",
        "",
        *([f"- {k.step}: {k.reason}" for k in plan.kept] or ["- nothing"]),
    ]
    if failed:
        lines += [
            "",
            "## Next",
            "",
            f"- Remove the rest: run the `teardown` flow with `confirm_cluster_name={cluster_name}`.",
        ]
    return "\n".join(lines)
