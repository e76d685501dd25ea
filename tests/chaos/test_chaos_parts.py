"""The chaos run's own parts: every fault knob is tried, duplicates are counted, the report says
what broke."""

from __future__ import annotations

from collections import Counter
from dataclasses import fields

from chaos import faults, inputs
from chaos.census import excess
from chaos.report import Row, Section, render
from sandbox.config import Faults


def test_every_fault_knob_is_tried_alone_and_all_of_them_together() -> None:
    knobs = {f.name for f in fields(Faults)} - {"seed"}
    tried = {name for knob in faults.KNOBS for name in knob.low}
    assert tried == knobs
    labels = [case.label for case in faults.cases()]
    assert labels[0].startswith("none")
    assert labels[-2].startswith("all low") and labels[-1].startswith("all high")
    every_high = faults.cases()[-1].faults
    assert every_high.aws_throttle_rate == 0.3 and every_high.validate_flaps == 3


def test_a_fault_no_retry_overcomes_is_judged_by_its_failure_and_left_out_of_the_mix() -> None:
    capacity = [c for c in faults.cases() if c.faults.insufficient_capacity_zone]
    assert [c.fails_with for c in capacity] == ["InsufficientInstanceCapacity"]  # alone only
    assert all(c.fails_with is None for c in faults.cases() if c.label.startswith("all "))


def test_an_expected_failure_holds_only_when_provision_fails_naming_it() -> None:
    from chaos.lifecycle import Life, judge_expected_failure

    named = Life(steps={"provision": "failed (...)"}, broke=["provision failed twice: x"])
    named.provision_errors = ["Error: api error InsufficientInstanceCapacity: none"] * 2
    judge_expected_failure(named, False, "InsufficientInstanceCapacity")
    assert named.held and "as expected" in named.steps["provision"]

    vague = Life(steps={"provision": "failed (...)"}, broke=["provision failed twice: x"])
    vague.provision_errors = ["Error: something else"] * 2
    judge_expected_failure(vague, False, "InsufficientInstanceCapacity")
    assert vague.broke == ["provision failed without naming InsufficientInstanceCapacity"]

    passed = Life(steps={"provision": "ok"})
    judge_expected_failure(passed, True, "InsufficientInstanceCapacity")
    assert not passed.held


def test_duplicates_are_kinds_above_the_baseline() -> None:
    baseline = Counter({"vpcs": 1, "instances": 4})
    assert excess(Counter({"vpcs": 1, "instances": 4}), baseline) == {}
    assert excess(Counter({"vpcs": 2, "instances": 3, "volumes": 1}), baseline) == {
        "volumes": 1,
        "vpcs": 1,
    }


def test_every_spec_field_gets_a_bad_value() -> None:
    from kops_nlb.core.spec import EnvironmentSpec

    tried = {field for field, _value, _kind in inputs.REFUSED}
    assert set(EnvironmentSpec.model_fields) <= tried


def test_the_report_counts_rows_and_says_what_broke() -> None:
    section = Section(title="Kills", intro="Each row kills.", columns=("killed", "outcome"))
    section.rows += [
        Row(("provision, during kops create", "converged"), held=True),
        Row(("teardown, mid-sweep", "left 1"), held=False, broke="left after teardown: vpcs"),
    ]
    text = render([section], started="2026-01-01T00:00:00+00:00", minutes=1.5, cpus=2)
    assert "**1 of 2 rows held.**" in text
    assert "| Kills | 2 | 1 | 0.0 |" in text
    assert "| teardown, mid-sweep | left 1 | **no**: left after teardown: vpcs |" in text
    assert "| provision, during kops create | converged | yes |" in text
