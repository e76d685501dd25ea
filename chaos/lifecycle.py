"""One environment's life under whatever faults are on: provision (and once more if it failed),
re-provision, verify, teardown, with the resources counted after each."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chaos.census import census, excess
from chaos.twin import ChaosTwin
from flows.provision import provision
from flows.teardown import teardown
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec


def first_line(error: BaseException) -> str:
    """Return an error's first line, shortened for a table cell."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"{type(error).__name__}: {text[:160]}"


@dataclass
class Life:
    """What happened to one environment: each step's outcome and the counts around them."""

    steps: dict[str, str] = field(default_factory=dict)
    broke: list[str] = field(default_factory=list)
    after_provision: Counter[str] = field(default_factory=Counter)
    after_reprovision: Counter[str] = field(default_factory=Counter)
    provision_errors: list[str] = field(default_factory=list)  # in full, for expected failures
    duplicates: dict[str, int] = field(default_factory=dict)
    left: dict[str, list[str]] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """Whether every step ended as it should, with nothing duplicated or left."""
        return not self.broke


def _provision(spec: EnvironmentSpec, life: Life) -> bool:
    try:
        provision(spec=spec)
        life.steps["provision"] = "ok"
        return True
    except Exception as first:  # noqa: BLE001 - the outcome is the measurement
        life.provision_errors.append(str(first))
        life.steps["provision"] = f"failed ({first_line(first)}); re-run"
    try:
        provision(spec=spec)
        life.steps["provision"] += " ok"
        return True
    except Exception as again:  # noqa: BLE001
        life.provision_errors.append(str(again))
        life.steps["provision"] += f" failed too ({first_line(again)})"
        life.broke.append(f"provision failed twice: {first_line(again)}")
        return False


def live(
    twin: ChaosTwin,
    spec: EnvironmentSpec,
    *,
    expected: Counter[str] | None,
    verify_too: bool,
    provision_fails_with: str | None = None,
) -> Life:
    """Run the environment's whole life and return what happened (teardown runs whatever came).

    ``provision_fails_with``: a fault no retry overcomes; provision must then fail both times
    with an error naming it (and the teardown still leave nothing).
    """
    life = Life()
    provisioned = _provision(spec, life)
    if provision_fails_with is not None:
        judge_expected_failure(life, provisioned, provision_fails_with)
    elif provisioned:
        life.after_provision = census(twin, spec)
        try:
            provision(spec=spec)
            life.steps["re-provision"] = "ok"
        except Exception as exc:  # noqa: BLE001
            life.steps["re-provision"] = f"failed ({first_line(exc)})"
            life.broke.append(f"re-provision failed: {first_line(exc)}")
        life.after_reprovision = census(twin, spec)
        baseline = expected if expected is not None else life.after_provision
        life.duplicates = excess(life.after_reprovision, baseline) or excess(
            life.after_provision, baseline
        )
        if life.duplicates:
            life.broke.append(f"duplicates: {life.duplicates}")
        if verify_too:
            try:
                passed = verify(spec=spec).passed
                life.steps["verify"] = "passed" if passed else "FAILED"
                if not passed:
                    life.broke.append("verify did not pass")
            except Exception as exc:  # noqa: BLE001
                life.steps["verify"] = f"failed ({first_line(exc)})"
                life.broke.append(f"verify failed: {first_line(exc)}")
    tear_down(spec, life)
    return life


def judge_expected_failure(life: Life, provisioned: bool, wording: str) -> None:
    """Hold the row only if provision failed, each time with an error naming `wording`."""
    if provisioned:
        life.broke.append(f"provision passed although the fault ({wording}) leaves no way to")
        return
    life.broke = [b for b in life.broke if not b.startswith("provision failed twice")]
    if all(wording in error for error in life.provision_errors):
        life.steps["provision"] += f"; as expected, named {wording}"
    else:
        life.broke.append(f"provision failed without naming {wording}")


def tear_down(spec: EnvironmentSpec, life: Life) -> None:
    """Tear the environment down (once more if the first attempt failed); record what is left.

    A teardown that fails and then completes when run again is convergence, like provision's.
    """
    for attempt in ("teardown", "teardown again"):
        try:
            result = teardown(
                spec=spec,
                confirm_cluster_name=spec.cluster_name,
                require_approval=False,
                delete_state_bucket=True,
            )
        except Exception as exc:  # noqa: BLE001
            life.steps[attempt] = f"failed ({first_line(exc)})"
            continue
        life.left = result.remaining
        life.steps[attempt] = "ok" if not result.remaining else f"left {result.remaining}"
        break
    else:
        life.broke.append("teardown failed twice")
    if life.left:
        life.broke.append(f"left after teardown: {sorted(life.left)}")


def baseline(twin: ChaosTwin, spec: EnvironmentSpec) -> Counter[str]:
    """Return what a fault-free provision makes, counted by kind (then tear it down)."""
    provision(spec=spec)
    counts = census(twin, spec)
    tear_down(spec, Life())
    return counts
