"""Faults: each knob of the twin alone, at a low and a high setting, then all of them together,
over one environment's whole life (provision, re-provision, verify, teardown)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from chaos.census import describe
from chaos.lifecycle import Life, first_line, live
from chaos.report import Row, Section
from chaos.twin import ChaosTwin
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.config import Faults

SEED = 17
CALM = Faults(seed=SEED)


@dataclass(frozen=True)
class Knob:
    """One fault knob: its low and high settings (the fields of ``Faults`` it sets).

    ``fails_with``: for a fault no retry overcomes, the wording provision must fail with; such a
    knob stays out of the combined rows, which are about faults that pass with retries.
    """

    name: str
    low: dict[str, Any]
    high: dict[str, Any] | None
    fails_with: str | None = None


@dataclass(frozen=True)
class Case:
    """One row's fault setting."""

    label: str
    faults: Faults
    fails_with: str | None = None


KNOBS = (
    Knob("aws_throttle_rate", {"aws_throttle_rate": 0.08}, {"aws_throttle_rate": 0.3}),
    Knob("kube_5xx_rate", {"kube_5xx_rate": 0.08}, {"kube_5xx_rate": 0.25}),
    Knob("validate_flaps", {"validate_flaps": 1}, {"validate_flaps": 3}),
    Knob("ssm_lost_rate", {"ssm_lost_rate": 0.1}, {"ssm_lost_rate": 0.3}),
    Knob("ssm_slow_seconds", {"ssm_slow_seconds": 1.0}, {"ssm_slow_seconds": 4.0}),
    Knob(
        "invocation_visible_after",
        {"invocation_visible_after": 1.0},
        {"invocation_visible_after": 3.0},
    ),
    Knob(
        "ec2_request_limit_rate", {"ec2_request_limit_rate": 0.05}, {"ec2_request_limit_rate": 0.2}
    ),
    Knob(
        "instance_visible_after", {"instance_visible_after": 1.0}, {"instance_visible_after": 4.0}
    ),
    Knob(
        "ssm_connection_lost",
        {"ssm_connection_lost_rate": 0.2, "ssm_connection_lost_seconds": 2.0},
        {"ssm_connection_lost_rate": 0.6, "ssm_connection_lost_seconds": 5.0},
    ),
    Knob(
        "insufficient_capacity_zone",
        {"insufficient_capacity_zone": "ap-northeast-1a"},
        None,
        fails_with="InsufficientInstanceCapacity",
    ),
)
COLUMNS = (
    "faults",
    "provision",
    "re-provision",
    "verify",
    "teardown",
    "resources after provision",
    "duplicates",
    "left after teardown",
    "injected",
)


def cases() -> list[Case]:
    """Return every fault setting tried: none, each knob low and high, all low, all high."""
    found = [Case("none (the baseline)", CALM)]
    for knob in KNOBS:
        for level, values in (("low", knob.low), ("high", knob.high)):
            if values is not None:
                found.append(
                    Case(f"{_label(values)} ({level})", replace(CALM, **values), knob.fails_with)
                )
    for level in ("low", "high"):
        combined: dict[str, Any] = {}
        for knob in KNOBS:
            chosen = knob.low if level == "low" else knob.high
            if chosen is not None and knob.fails_with is None:
                combined.update(chosen)
        found.append(Case(f"all {level}: {_label(combined)}", replace(CALM, **combined)))
    return found


def _teardown_cell(steps: dict[str, str]) -> str:
    again = steps.get("teardown again")
    return steps.get("teardown", "-") + (f"; again: {again}" if again else "")


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in values.items())


def _injected(twin: ChaosTwin, before: Counter[str], kube_before: int) -> str:
    aws = twin.world.aws.injected_counts - before
    kube = twin.world.api_proxy.faults_injected - kube_before
    parts = [f"{code} {n}" for code, n in sorted(aws.items())]
    if kube:
        parts.append(f"Kubernetes 5xx {kube}")
    return ", ".join(parts) or "none seen"


def run(twin: ChaosTwin, base: EnvironmentSpec) -> tuple[Section, Counter[str]]:
    """Run every case; return the table and the fault-free baseline's resource counts."""
    section = Section(
        title="Faults",
        intro=(
            "Each row is one environment's life on the twin with the faults named on: "
            "`provision` (run once more if it failed: convergence is the claim), `provision` "
            "again, `verify`, `teardown` (deleting the state bucket; once more if it failed). "
            "Resources are the cluster's, counted at the twin after provision and after the "
            "re-provision; duplicates are kinds with more than the fault-free baseline row. "
            "'injected' counts the errors the twin really served. A fault that no retry "
            "overcomes (no capacity in a zone the cluster needs) holds when provision fails "
            "naming it and the teardown leaves nothing; the combined rows leave it out."
        ),
        columns=COLUMNS,
    )
    started = time.monotonic()
    expected: Counter[str] | None = None
    for index, case in enumerate(cases()):
        label, faults = case.label, case.faults
        spec = base.model_copy(update={"cluster_name": f"faults-{index}.k8s.local"})
        before, kube_before = (
            Counter(twin.world.aws.injected_counts),
            twin.world.api_proxy.faults_injected,
        )
        twin.set_faults(faults)
        try:
            life = live(
                twin,
                spec,
                expected=expected,
                verify_too=True,
                provision_fails_with=case.fails_with,
            )
        except Exception as exc:  # noqa: BLE001 - a row the run could not finish is a row too
            life = Life(broke=[f"the chaos run itself failed: {first_line(exc)}"])
        finally:
            twin.set_faults(CALM)
        if expected is None:
            expected = life.after_provision
        section.rows.append(
            Row(
                cells=(
                    label,
                    life.steps.get("provision", "-"),
                    life.steps.get("re-provision", "-"),
                    life.steps.get("verify", "-"),
                    _teardown_cell(life.steps),
                    describe(life.after_provision),
                    str(sum(life.duplicates.values())),
                    str(sum(len(v) for v in life.left.values())),
                    _injected(twin, before, kube_before),
                ),
                held=life.held,
                broke="; ".join(life.broke),
            )
        )
    section.seconds = time.monotonic() - started
    return section, expected or Counter()
