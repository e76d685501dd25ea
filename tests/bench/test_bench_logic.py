"""The benchmark's pure parts: critical path, call attribution, chains, detection, stats."""

from __future__ import annotations

from typing import Any

import pytest

from bench.advice import design_changes
from bench.calls import (
    Call,
    api_load_balancer_wait,
    attribute,
    product_writes,
    twin_writes,
    writes_by_origin,
)
from bench.critical_path import Latencies, Step, longest_path, sequential_latency, world_dag
from bench.detection import detect
from bench.stats import summarize
from bench.targets import targets
from bench.timeline import Span, critical_chain, outside
from bench.twin import REALISTIC_DELAYS, scaled_delays

REALISTIC = Latencies(node_ready=60, nlb_active=30, target_healthy=20, ssm_online=20)


@pytest.mark.parametrize(
    ("latencies", "model", "seconds", "last_real_step"),
    [
        # kops's API load balancer (30 s), the nodes (60 s), then the Service's NLB (30 s).
        (REALISTIC, "twin", 120.0, "nlb_active"),
        (REALISTIC, "chain", 140.0, "targets_healthy"),
        (Latencies(node_ready=1, nlb_active=1, target_healthy=5, ssm_online=1), "twin", 7.0, None),
        (Latencies(node_ready=1, nlb_active=1, target_healthy=1, ssm_online=9), "twin", 9.0, None),
    ],
)
def test_world_critical_path(
    latencies: Latencies, model: str, seconds: float, last_real_step: str | None
) -> None:
    path = longest_path(world_dag(latencies, model=model))
    assert path.seconds == seconds
    assert path.steps[-1] == "done"
    if seconds > latencies.ssm_online:
        assert path.steps[:3] == ("cluster_created", "api_nlb_active", "nodes_ready")
    if last_real_step:
        assert path.steps[-2] == last_real_step


def test_longest_path_rejects_cycles_and_unknown_steps() -> None:
    with pytest.raises(ValueError, match="cycle"):
        longest_path([Step("a", 1, ("b",)), Step("b", 1, ("a",))])
    with pytest.raises(ValueError, match="unknown"):
        longest_path([Step("a", 1, ("nope",))])


@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        (REALISTIC, 140.0),  # targets already healthy when the NLB is active
        (Latencies(node_ready=10, nlb_active=5, target_healthy=8, ssm_online=2), 25.0),
    ],
)
def test_sequential_latency(latencies: Latencies, expected: float) -> None:
    assert sequential_latency(latencies) == expected


def aws(at: float, origin: str, operation: str, *, ended: float | None = None) -> Call:
    write = not operation.startswith("Describe")
    return Call(at, "aws", origin, "elbv2", operation, write, ended, wrapped=ended is not None)


def test_attribute_replaces_wrapped_reports_and_labels_the_rest_kops() -> None:
    calls = [
        aws(10.0, "other", "CreateLoadBalancer"),  # the controller's, seen by the endpoint
        aws(9.99, "controller", "CreateLoadBalancer", ended=10.2),
        aws(11.0, "other", "CreateLoadBalancer"),  # nobody reported it: kops
        aws(12.0, "product", "DescribeLoadBalancers"),
        aws(12.5, "bench", "DescribeLoadBalancers"),
        aws(12.6, "twin", "DescribeLoadBalancers"),  # the simulated instances' own look-ups
        aws(12.7, "controller", "RegisterTargets"),  # the real cloud controller, by its key
        aws(12.8, "other", "RegisterTargets"),  # not the real controller's call: kops
        Call(13.0, "kube", "kubelet", "v1/nodes/status", "PATCH", True),
    ]
    settled = attribute(calls)
    assert [(c.at, c.origin) for c in settled] == [
        (9.99, "controller"),
        (11.0, "kops"),
        (12.0, "product"),
        (12.7, "controller"),
        (12.8, "kops"),
        (13.0, "kubelet"),
    ]
    assert product_writes(settled) == 2
    assert twin_writes(settled) == 3
    assert writes_by_origin(settled) == {"aws:controller": 2, "aws:kops": 2, "kube:kubelet": 1}


def test_critical_chain_walks_back_from_the_end() -> None:
    spans = [
        Span("a", 0.0, 1.0),
        Span("side", 0.5, 3.5),  # ran alongside, ended after b started
        Span("b", 1.2, 3.0),
        Span("c", 3.6, 5.0),
    ]
    chain = critical_chain(spans, end=5.5)
    assert [s.name for s in chain] == ["side", "c"]  # `a` overlapped `side`
    assert outside(Span("flow", 0.0, 5.5), chain) == pytest.approx(5.5 - 3.0 - 1.4)
    touching = [Span("a", 0.0, 1.0), Span("b", 0.98, 2.0)]  # clocks a few ms apart
    assert [s.name for s in critical_chain(touching, end=2.0)] == ["b"]
    assert [s.name for s in critical_chain(touching, end=2.0, slack=0.05)] == ["a", "b"]


def test_detection_latency_rate_and_early_readiness() -> None:
    spans = [
        Span("wait_for_nlb_active", 100.0, 130.0),
        Span("wait_for_targets_healthy", 130.1, 130.3),
    ]
    calls = [aws(100.0 + i * 5, "product", "DescribeLoadBalancers") for i in range(7)]
    calls += [aws(131.0, "product", "DescribeLoadBalancers")]  # after the wait
    ready = {"nlb": 127.0, "targets": 120.0, "nodes": None}
    found = {d.resource: d for d in detect(spans, calls, ready)}
    nlb = found["nlb"]
    assert nlb.latency == pytest.approx(3.0)
    assert nlb.calls == 7
    assert nlb.calls_per_minute == pytest.approx(14.0)
    assert not nlb.ready_before_wait
    targets = found["targets"]
    assert targets.ready_before_wait
    assert targets.latency == pytest.approx(0.2)
    assert targets.calls_per_minute is None  # too short for a rate
    assert found["nodes"].latency is None and found["ssm"].wait is None


def test_summarize() -> None:
    summary = summarize([3.0, None, 1.0, 2.0])
    assert summary is not None
    assert (summary.median, summary.min, summary.max) == (2.0, 1.0, 3.0)
    assert summary.as_dict(1) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}
    assert summarize([None]) is None


def _summary(value: float) -> dict[str, object]:
    return {"median": value, "min": value, "max": value, "runs": [value]}


def _figures(*, wall: float, writes: int, scan: float, peak: float) -> dict[str, Any]:
    return {
        "critical_path": {"twin": {"seconds": 20.0}},
        "provision": {
            "wall_s": _summary(wall),
            "phases_s": {"validation_wait": _summary(15.0)},
            "task_s": {"ensure_cluster": _summary(2.0)},
            "instant_twin_wall_s": _summary(4.0),
            "instant_twin_phases_s": {},
        },
        "reprovision": {
            "wall_s": _summary(3.0),
            "product_writes": _summary(writes),
            "write_operations": ["s3 PutObject"] if writes else [],
            "task_s": {},
        },
        "verify": {"wall_s": _summary(2.0), "phases_s": {}},
        "detection": {
            "nodes": {
                "description": "nodes Ready",
                "latency_s": _summary(0.4),
                "calls_per_minute": _summary(30.0),
                "operations_run1": {"v1/nodes GET": 3},
                "calls_per_look_run1": 1,
            }
        },
        "parsing": {
            "scan_lines_per_cpu_second": _summary(scan),
            "lines_per_cpu_second": _summary(600_000.0),
            "rss_after_tenth_mib": _summary(50.0),
            "peak_rss_mib": _summary(peak),
        },
    }


def test_targets_carry_numbers_and_judge_each_goal() -> None:
    found = {
        t["id"]: t for t in targets(_figures(wall=27.0, writes=1, scan=2_000_000.0, peak=400.0))
    }
    assert list(found) == [
        "provision_overhead_s",
        "instant_provision_s",
        "reprovision_s",
        "verify_s",
        "detection_latency_s",
        "detection_calls_per_resource_min",
        "scan_lines_per_cpu_s",
        "parse_lines_per_cpu_s",
        "fleet10_wall_ratio",
    ]
    assert found["provision_overhead_s"]["measured"] == pytest.approx(7.0)
    assert not found["provision_overhead_s"]["met"]
    assert "validation_wait 15.0 s" in found["provision_overhead_s"]["why"]
    assert found["instant_provision_s"]["met"]
    # Fast enough, but it wrote something.
    assert not found["reprovision_s"]["met"] and "s3 PutObject" in found["reprovision_s"]["why"]
    assert found["detection_latency_s"]["met"]
    assert not found["detection_calls_per_resource_min"]["met"]
    assert "v1/nodes GET x3" in found["detection_calls_per_resource_min"]["why"]
    assert found["scan_lines_per_cpu_s"]["met"]
    # Fast enough, but memory grew with the lines: not flat.
    assert not found["parse_lines_per_cpu_s"]["met"]
    assert "grew 350 MiB" in found["parse_lines_per_cpu_s"]["why"]
    assert found["fleet10_wall_ratio"]["measured"] is None
    assert not found["fleet10_wall_ratio"]["met"] and found["fleet10_wall_ratio"]["why"]


def test_each_missed_target_names_its_next_lever() -> None:
    found = targets(_figures(wall=27.0, writes=1, scan=2_000_000.0, peak=400.0))
    for target in found:
        if target["met"]:
            assert target["why"] == ""
        elif target["measured"] is None:  # the fleet, in these figures
            assert target["why"] == "not measured in this run"
        else:
            assert ". Next lever: " in target["why"] or "next lever" in target["why"], target["id"]


def test_the_overhead_names_kops_waiting_past_its_api_load_balancer() -> None:
    figures = _figures(wall=40.0, writes=0, scan=2e6, peak=52.0)
    figures["provision"]["kops_api_nlb_wait_s"] = _summary(15.1)
    figures["latencies"] = {"scaled_s": {"nlb_active": 7.5}, "nominal_s": {"nlb_active": 30.0}}
    why = {t["id"]: t["why"] for t in targets(figures)}["provision_overhead_s"]
    assert "15.1 s after creating its API load balancer" in why
    assert "active after 7.5 s" in why and "(7.6 s of the overhead" in why
    assert "the NLB takes 30 s or more and the step costs 0 to 15 s" in why
    # A waiter that looked in time is not named.
    figures["provision"]["kops_api_nlb_wait_s"] = _summary(7.9)
    why = {t["id"]: t["why"] for t in targets(figures)}["provision_overhead_s"]
    assert "API load balancer" not in why and "Next lever" in why


def kops(at: float, service: str, operation: str) -> Call:
    return Call(at, "aws", "kops", service, operation, True)


def test_api_load_balancer_wait_runs_from_kops_nlb_to_its_first_launch_template() -> None:
    calls = [
        kops(5.0, "ec2", "CreateLaunchTemplate"),  # an earlier cluster's: before the NLB
        Call(9.0, "aws", "product", "elbv2", "CreateLoadBalancer", True),  # not kops's
        kops(10.0, "elbv2", "CreateLoadBalancer"),
        kops(25.0, "elbv2", "DescribeLoadBalancers"),
        kops(25.5, "ec2", "CreateLaunchTemplate"),
        kops(25.6, "ec2", "CreateLaunchTemplate"),
    ]
    assert api_load_balancer_wait(calls) == pytest.approx(15.5)
    assert api_load_balancer_wait(calls[:4]) is None  # no launch template yet
    assert api_load_balancer_wait([calls[0], calls[1]]) is None  # kops made no NLB


def test_targets_met_when_every_figure_is_within_its_goal() -> None:
    found = {t["id"]: t for t in targets(_figures(wall=24.0, writes=0, scan=2e6, peak=52.0))}
    assert found["provision_overhead_s"]["met"]
    assert found["reprovision_s"]["met"]
    assert found["parse_lines_per_cpu_s"]["met"]
    assert found["scan_lines_per_cpu_s"]["met"]


def _orchestration_figures(empty: float, without_heartbeat: float) -> dict[str, Any]:
    """Figures that call for no design change but, perhaps, the heartbeat's."""
    return {
        "detection": {},
        "provision": {"task_s": {}, "phases_s": {"engine": _summary(0.9)}},
        "reprovision": {"task_s": {}, "wall_s": _summary(4.0)},
        "orchestration": {
            "provision_chain_run1": [],
            "empty_flow_run_s": empty,
            "empty_flow_run_no_heartbeat_s": without_heartbeat,
        },
    }


def test_the_heartbeat_join_is_named_only_when_it_costs_the_flow_runs() -> None:
    [change] = design_changes(_orchestration_figures(1.08, 0.12))
    assert "heartbeat" in change
    assert "empty flow run takes 1.08 s, 0.12 s with" in change
    assert "engine phase: 0.9 s" in change
    assert design_changes(_orchestration_figures(0.2, 0.12)) == []


def test_scaled_delays_scale_every_latency_and_a_smoke_run_has_no_load_balancer_wait() -> None:
    quarter = scaled_delays(0.25)
    assert quarter.node_ready == REALISTIC_DELAYS.node_ready * 0.25
    assert quarter.nlb_active == REALISTIC_DELAYS.nlb_active * 0.25
    assert quarter.ssm_online == REALISTIC_DELAYS.ssm_online * 0.25
    smoke = scaled_delays(0.01, nlb_at_once=True)
    assert smoke.nlb_active == 0.0
    assert smoke.node_ready == REALISTIC_DELAYS.node_ready * 0.01 > 0
