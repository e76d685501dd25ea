"""The plan as a whole: order, nothing-to-do, blocked by a precondition, kops previews, cost, and
its markdown."""

from __future__ import annotations

import json

import pytest

from kops_nlb.core.plan import Plan, PlanItem, Precondition, tag_changes
from kops_nlb.core.plan_assembly import (
    STEP_ORDER,
    assemble_plan,
    blocked_plan,
    empty_world_items,
)
from kops_nlb.core.plan_cluster import (
    cluster_preview_failed,
    decide_cluster,
    summarize_dry_run,
    summarize_update_preview,
)
from kops_nlb.core.plan_cost import DEFAULT_PRICES, estimate_cost, price_table
from kops_nlb.core.reports.plan import plan_report
from kops_nlb.core.spec import EnvironmentSpec

OK = (Precondition(name="region", ok=True, detail="ap-northeast-1"),)


def test_tag_changes_name_missing_and_different_values() -> None:
    changes = tag_changes({"a": "1", "b": "old"}, {"a": "1", "b": "new", "c": "3"})
    assert [(c.field, c.current, c.wanted) for c in changes] == [
        ("tag b", "old", "new"),
        ("tag c", "(none)", "3"),
    ]


def test_empty_world_is_all_will_create_in_apply_order(spec: EnvironmentSpec) -> None:
    items = list(reversed(empty_world_items(spec, "bucket")))

    result = assemble_plan(spec, preconditions=OK, items=items)

    assert [i.step for i in result.items] == list(STEP_ORDER)
    assert {i.status for i in result.items} == {"will create"}
    assert not result.nothing_to_do


@pytest.mark.parametrize(
    ("statuses", "checks_ok", "nothing_to_do"),
    [
        (["exists", "exists"], True, True),
        (["exists", "will change"], True, False),
        (["exists", "unknown"], True, False),
        (["exists", "exists"], False, False),
    ],
    ids=["all-exist", "a-change", "could-not-look", "failed-check"],
)
def test_nothing_to_do(statuses: list[str], checks_ok: bool, nothing_to_do: bool) -> None:
    items = tuple(
        PlanItem(step=f"s{n}", resource="r", status=status)  # type: ignore[arg-type]
        for n, status in enumerate(statuses)
    )
    checks = (Precondition(name="zones", ok=checks_ok, detail="x"),)
    assert Plan(cluster_name="c", region="r", preconditions=checks, items=items).nothing_to_do is (
        nothing_to_do
    )


def test_a_failed_precondition_blocks_everything_with_its_reason(spec: EnvironmentSpec) -> None:
    checks = (
        Precondition(name="region", ok=True, detail="ap-northeast-1"),
        Precondition(name="zones", ok=False, detail="not available: ap-northeast-1z"),
    )

    result = blocked_plan(spec, bucket="b", preconditions=checks)

    assert {i.status for i in result.items} == {"blocked"}
    assert all("zones: not available: ap-northeast-1z" in i.reason for i in result.items)
    assert all(not i.changes for i in result.items)


DRY_RUN = "\n".join(
    json.dumps(o)
    for o in (
        {
            "kind": "Cluster",
            "spec": {
                "kubernetesVersion": "1.35.0",
                "networkCIDR": "172.20.0.0/16",
                "networking": {"calico": {}},
                "api": {"loadBalancer": {"class": "Network", "type": "Public"}},
                "subnets": [
                    {"name": "ap-northeast-1a", "zone": "ap-northeast-1a", "type": "Private"},
                    {
                        "name": "utility-ap-northeast-1c",
                        "zone": "ap-northeast-1c",
                        "type": "Utility",
                    },
                ],
            },
        },
        {
            "kind": "InstanceGroup",
            "metadata": {"name": "control-plane-ap-northeast-1a"},
            "spec": {
                "role": "ControlPlane",
                "machineType": "t3.medium",
                "minSize": 1,
                "maxSize": 1,
                "subnets": ["ap-northeast-1a"],
            },
        },
    )
)


def test_dry_run_is_summarised() -> None:
    lines = summarize_dry_run(DRY_RUN)

    assert lines[0] == "kops 1.35.0 cluster in zones ap-northeast-1a, ap-northeast-1c"
    assert "networking calico, VPC 172.20.0.0/16" in lines[1]
    assert "API load balancer: Network, Public" in lines
    assert lines[-1] == (
        "instance group control-plane-ap-northeast-1a: ControlPlane, t3.medium, min 1 / max 1, "
        "subnets ap-northeast-1a"
    )


def test_dry_run_without_a_cluster_is_an_error() -> None:
    with pytest.raises(ValueError, match="no Cluster"):
        summarize_dry_run("Error: something")


@pytest.mark.parametrize(
    ("stdout", "first"),
    [
        ("No changes need to be applied\n", "kops update cluster: no changes need to be applied"),
        ("Must specify --yes to apply changes\n", "kops update cluster: changes pending"),
        (
            "Will modify resources:\n  LaunchTemplate/nodes\nMust specify --yes to apply changes\n",
            "kops update cluster would change:",
        ),
    ],
    ids=["none", "pending", "listed"],
)
def test_update_preview(stdout: str, first: str) -> None:
    assert summarize_update_preview(stdout)[0].startswith(first)


def test_cluster_decision(spec: EnvironmentSpec) -> None:
    assert decide_cluster(spec, exists=True).item.status == "exists"
    created = decide_cluster(spec, exists=False, preview=("kops says",))
    assert created.create and created.item.notes == ("kops says",)


@pytest.mark.parametrize(
    ("exists", "status"), [(False, "blocked"), (True, "exists")], ids=["create", "update"]
)
def test_a_failed_kops_preview(spec: EnvironmentSpec, exists: bool, status: str) -> None:
    item = cluster_preview_failed(spec, exists=exists, error="unknown flag --x")
    assert item.status == status
    assert "unknown flag --x" in (item.reason or " ".join(item.notes))


def test_cost_of_the_default_environment(spec: EnvironmentSpec) -> None:
    cost = estimate_cost(spec)

    by_what = {line.what: (line.kind, line.count) for line in cost.lines}
    assert by_what["control plane"] == ("t3.medium", 1)
    assert by_what["nodes"] == ("t3.medium", 2)
    assert by_what["bastion"] == ("t3.micro", 1)
    assert by_what["NAT gateways (one per zone)"] == ("nat-gateway", 2)
    expected = 3 * DEFAULT_PRICES["t3.medium"] + DEFAULT_PRICES["t3.micro"]
    expected += 2 * DEFAULT_PRICES["nlb"] + 2 * DEFAULT_PRICES["nat-gateway"]
    assert cost.hourly == pytest.approx(expected)
    assert "ap-northeast-1" in cost.source and "2025-06-01" in cost.source


def test_the_negative_control_is_planned_and_priced_as_a_second_nlb(
    spec: EnvironmentSpec,
) -> None:
    with_control = spec.model_copy(update={"negative_control": True})
    extra = estimate_cost(with_control).hourly - estimate_cost(spec).hourly
    assert extra == pytest.approx(DEFAULT_PRICES["nlb"])
    resources = [i.resource for i in empty_world_items(with_control, "bucket")]
    assert f"service {spec.namespace}/{spec.service_name}-canary" in resources
    assert f"service {spec.namespace}/{spec.service_name}-canary" not in [
        i.resource for i in empty_world_items(spec, "bucket")
    ]


def test_prices_can_be_overridden_and_unknown_types_are_named(spec: EnvironmentSpec) -> None:
    custom = spec.model_copy(update={"node_size": "z9.huge"})

    cost = estimate_cost(custom, {"t3.medium": 0.05})

    assert cost.unpriced == ("z9.huge",)
    assert "overridden: t3.medium" in cost.source
    with pytest.raises(ValueError, match="negative"):
        price_table({"nlb": -1})


def test_report_lists_items_diff_reason_and_cost(spec: EnvironmentSpec) -> None:
    items = empty_world_items(spec, "bucket")
    result = assemble_plan(spec, preconditions=OK, items=items)

    report = plan_report(result)

    assert report.startswith(f"# Plan for `{spec.cluster_name}` (ap-northeast-1)")
    assert "**10 will create.**" in report
    assert "| 1 | state-store | S3 bucket bucket (kops state store) | + will create |" in report
    assert "- `versioning`: (none) → **Enabled**" in report
    assert "USD per hour" in report and "Prices: AWS public on-demand prices" in report


def test_report_of_nothing_to_do() -> None:
    result = Plan(
        cluster_name="c",
        region="r",
        preconditions=OK,
        items=(PlanItem(step="state-store", resource="r", status="exists"),),
    )
    assert "**Nothing to do**" in plan_report(result)
