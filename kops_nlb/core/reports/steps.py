"""Markdown a person can act on, rendered from step results (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from kops_nlb.core.results import StepResult


def artifact_key(prefix: str, cluster_name: str) -> str:
    """Return a valid artifact key (lowercase letters, digits, dashes) for a cluster."""
    slug = re.sub(r"[^a-z0-9]+", "-", cluster_name.lower()).strip("-")
    return f"{prefix}-{slug}"[:100]


def steps_table(steps: Iterable[StepResult]) -> str:
    """Render step results as a markdown table."""
    rows = ["| step | result | detail |", "|---|---|---|"]
    for step in steps:
        detail = step.summary.replace("|", "\\|")
        rows.append(f"| {step.step} | {step.verb} | {detail} |")
    return "\n".join(rows)


def provision_summary(
    *,
    cluster_name: str,
    region: str,
    state_store: str,
    nlb_dns: str,
    bastion_id: str,
    bastion_ip: str,
    kubeconfig: str,
    steps: list[StepResult],
    deployment: str = "dev",
) -> str:
    """Render the summary a person reads after provisioning."""
    changed = [s.step for s in steps if s.changed]
    headline = (
        f"Changed: {', '.join(changed)}."
        if changed
        else "Nothing changed: everything was already in place."
    )
    return "\n".join(
        [
            f"# Environment `{cluster_name}` is ready",
            "",
            headline,
            "",
            "| what | value |",
            "|---|---|",
            f"| region | `{region}` |",
            f"| kops state store | `{state_store}` |",
            f"| internal NLB | `{nlb_dns}` |",
            f"| bastion (SSM) | `{bastion_id}` ({bastion_ip}) |",
            f"| admin kubeconfig | `{kubeconfig}` (mode 0600, expires) |",
            "",
            "## Steps",
            "",
            steps_table(steps),
            "",
            "## Next",
            "",
            f"- Prove client-IP preservation: `prefect deployment run verify/{deployment} --watch`",
            f"- Shell on the bastion: `aws ssm start-session --region {region} --target {bastion_id}`",
            f"- Cluster health: `kops validate cluster --name {cluster_name} --state {state_store}`",
            (
                f"- Remove everything: `prefect deployment run teardown/{deployment} "
                f"--param confirm_cluster_name={cluster_name}`"
            ),
        ]
    )


def teardown_report(
    *, cluster_name: str, steps: list[StepResult], remaining: dict[str, list[str]]
) -> str:
    """Render what teardown deleted, found gone, and could not delete."""
    deleted = [s for s in steps if s.changed]
    gone = [s for s in steps if not s.changed and not s.left]
    left = [s for s in steps if s.left]
    leftovers = [f"- {kind}: {', '.join(ids)}" for kind, ids in sorted(remaining.items()) if ids]
    return "\n".join(
        [
            f"# Teardown of `{cluster_name}`",
            "",
            f"Deleted {len(deleted)}, already gone {len(gone)}, could not delete {len(left)}.",
            "",
            "## Deleted",
            "",
            *([f"- {s.step}: {s.summary}" for s in deleted] or ["- nothing"]),
            "",
            "## Already gone",
            "",
            *([f"- {s.step}: {s.summary}" for s in gone] or ["- nothing"]),
            "",
            "## Could not delete",
            "",
            *([f"- {s.summary}" for s in left] or ["- nothing"]),
            "",
            "## Still tagged for the cluster",
            "",
            *(leftovers or ["- nothing: the account is as it was before provisioning"]),
        ]
    )
