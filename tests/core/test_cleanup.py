"""Cleanup after a failed provision: the plan from the steps' `created` parts, as tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# moto hooks into boto3 sessions created after it is imported (see test_teardown.py).
import moto  # noqa: F401
import pytest
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State

from kops_nlb.core.cleanup import ACTION_ORDER, Kept
from kops_nlb.core.cleanup import RemovalOutcome as Outcome
from kops_nlb.core.naming import NLB_POLICY_NAME, bastion_role_name
from kops_nlb.core.results import StepResult
from kops_nlb.core.spec import EnvironmentSpec
from tasks._ledger import StepLedger
from tasks.cleanup import (
    CleanupPlan,
    Removal,
    cleanup_plan,
    cleanup_report,
    skip_reason,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")

SPEC = EnvironmentSpec()
CLUSTER = SPEC.cluster_name
ACCOUNT = "123456789012"
BUCKET = SPEC.bucket_for(ACCOUNT)
STORE = f"s3://{BUCKET}"
ROLE = bastion_role_name(SPEC)
MASTERS = SPEC.control_plane_role


def step(
    name: str, changed: bool, summary: str, created: frozenset[str] = frozenset(), **ids: str
) -> StepResult:
    return StepResult(step=name, changed=changed, summary=summary, created=created, ids=ids)


STORE_IDS = {"bucket": BUCKET, "state_store": STORE}
CLUSTER_IDS = {"cluster": CLUSTER, "state_store": STORE}
ROLE_IDS = {"role": ROLE, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"}
GROUP_IDS = {"security_group_id": "sg-1", "vpc_id": "vpc-1"}
INSTANCE_IDS = {"instance_id": "i-1", "private_ip": "172.20.0.10", "subnet_id": "subnet-1"}
POLICY_IDS = {"role": MASTERS, "policy": NLB_POLICY_NAME}

# What each step reports when this run created it (words as the tasks write them).
NEW = {
    "state-store": step(
        "state-store",
        True,
        f"bucket {BUCKET}: created, versioning enabled, public access blocked, "
        "default encryption SSE-S3",
        created=frozenset({"bucket"}),
        **STORE_IDS,
    ),
    "cluster": step(
        "cluster", True, "kops cluster created", created=frozenset({"cluster"}), **CLUSTER_IDS
    ),
    "nlb-permissions": step(
        "nlb-permissions",
        True,
        f"added 1 actions to {MASTERS} ({NLB_POLICY_NAME}): elasticloadbalancing:AddTags",
        created=frozenset({"policy"}),
        **POLICY_IDS,
    ),
    "bastion-role": step(
        "bastion-role",
        True,
        f"bastion role {ROLE}: role created, AmazonSSMManagedInstanceCore attached, "
        "instance profile created, role added to instance profile",
        created=frozenset({"role", "instance-profile"}),
        **ROLE_IDS,
    ),
    "bastion-security-group": step(
        "bastion-security-group",
        True,
        f"bastion security group {ROLE} (sg-1): created",
        created=frozenset({"security-group"}),
        **GROUP_IDS,
    ),
    "bastion-instance": step(
        "bastion-instance",
        True,
        "launched bastion i-1 in subnet-1 (ap-northeast-1a)",
        created=frozenset({"instance"}),
        **INSTANCE_IDS,
    ),
    "namespace": step("namespace", True, "created default", created=frozenset({"namespace"})),
    "nginx": step(
        "nginx",
        True,
        "created deployment default/nginx",
        deployment="nginx",
        created=frozenset({"deployment"}),
    ),
    "service": step(
        "service", True, "created service default/nginx", created=frozenset({"service"})
    ),
}
NEW_CANARY = step(
    "canary-service",
    True,
    "created service default/nginx-canary",
    created=frozenset({"service"}),
)
# What each step reports when it found everything in place.
FOUND = {
    "state-store": step("state-store", False, f"bucket {BUCKET}: already as wanted", **STORE_IDS),
    "cluster": step("cluster", False, "kops cluster exists", **CLUSTER_IDS),
    "nlb-permissions": step(
        "nlb-permissions",
        False,
        f"all 14 NLB actions already granted to {MASTERS} (by kops)",
        **POLICY_IDS,
    ),
    "bastion-role": step(
        "bastion-role", False, f"bastion role {ROLE}: already as wanted", **ROLE_IDS
    ),
    "bastion-security-group": step(
        "bastion-security-group",
        False,
        f"bastion security group {ROLE} (sg-1): already as wanted",
        **GROUP_IDS,
    ),
    "bastion-instance": step("bastion-instance", False, "bastion i-1 is running", **INSTANCE_IDS),
    "namespace": step("namespace", False, "default exists"),
    "nginx": step("nginx", False, "deployment default/nginx as wanted"),
    "service": step("service", False, "service default/nginx as wanted"),
}
# What steps report when they changed something that was already there.
ADJUSTED = {
    "state-store": step("state-store", True, f"bucket {BUCKET}: versioning enabled", **STORE_IDS),
    "bastion-role": step(
        "bastion-role",
        True,
        f"bastion role {ROLE}: trust policy set to EC2, AmazonSSMManagedInstanceCore attached",
        **ROLE_IDS,
    ),
    "bastion-security-group": step(
        "bastion-security-group",
        True,
        f"bastion security group {ROLE} (sg-1): revoked 1 inbound rule(s)",
        **GROUP_IDS,
    ),
    "bastion-instance": step("bastion-instance", True, "started bastion i-1", **INSTANCE_IDS),
    "nginx": step("nginx", True, "patched deployment default/nginx: ['replicas']"),
    "service": step("service", True, "patched service default/nginx: ['externalTrafficPolicy']"),
}
PROFILE_ONLY = step(
    "bastion-role",
    True,
    f"bastion role {ROLE}: instance profile created, role added to instance profile",
    frozenset({"instance-profile"}),
    **ROLE_IDS,
)
EVERYTHING_REMOVED = [
    ("delete-service", "default/nginx"),
    ("delete-deployment", "default/nginx"),
    ("delete-namespace", "default"),
    ("terminate-bastion", "i-1"),
    ("delete-bastion-security-group", "sg-1"),
    ("delete-bastion-instance-profile", ROLE),
    ("delete-bastion-role", ROLE),
    ("remove-nlb-permissions", f"{NLB_POLICY_NAME} on {MASTERS}"),
    ("delete-cluster", CLUSTER),
    ("sweep", CLUSTER),
    ("delete-state-store", BUCKET),
]


# ---- the plan -------------------------------------------------------------------------------


def planned(steps: list[StepResult]) -> list[tuple[str, str]]:
    return [(r.action, r.target) for r in cleanup_plan(SPEC, steps).removals]


def kept_steps(steps: list[StepResult]) -> list[str]:
    return [k.step for k in cleanup_plan(SPEC, steps).kept]


@pytest.mark.parametrize(
    ("steps", "removed", "kept"),
    [
        ([], [], []),
        (list(NEW.values()), EVERYTHING_REMOVED, []),
        (list(reversed(NEW.values())), EVERYTHING_REMOVED, []),
        (list(FOUND.values()), [], list(FOUND)),
        (
            [
                FOUND["state-store"],
                FOUND["cluster"],
                FOUND["nlb-permissions"],
                NEW["bastion-role"],
                NEW["bastion-security-group"],
                NEW["bastion-instance"],
            ],
            [
                ("terminate-bastion", "i-1"),
                ("delete-bastion-security-group", "sg-1"),
                ("delete-bastion-instance-profile", ROLE),
                ("delete-bastion-role", ROLE),
            ],
            ["state-store", "cluster", "nlb-permissions"],
        ),
        (
            [NEW["bastion-role"], NEW["state-store"]],
            [
                ("delete-bastion-instance-profile", ROLE),
                ("delete-bastion-role", ROLE),
                ("delete-cluster", CLUSTER),
                ("sweep", CLUSTER),
                ("delete-state-store", BUCKET),
            ],
            [],
        ),
        (
            [NEW["bastion-role"], ADJUSTED["state-store"]],
            [("delete-bastion-instance-profile", ROLE), ("delete-bastion-role", ROLE)],
            ["state-store"],
        ),
        (
            [NEW["state-store"], FOUND["cluster"], NEW["nlb-permissions"]],
            [("remove-nlb-permissions", f"{NLB_POLICY_NAME} on {MASTERS}")],
            ["state-store", "cluster"],
        ),
        ([PROFILE_ONLY], [("delete-bastion-instance-profile", ROLE)], ["bastion-role"]),
        ([*ADJUSTED.values(), FOUND["cluster"]], [], [*ADJUSTED, "cluster"]),
        (
            [FOUND["cluster"], FOUND["namespace"], ADJUSTED["nginx"], NEW["service"]],
            [("delete-service", "default/nginx")],
            ["cluster", "namespace", "nginx"],
        ),
        (
            [FOUND["service"], NEW_CANARY],
            [("delete-service", "default/nginx-canary")],
            ["service"],
        ),
    ],
    ids=[
        "nothing-finished",
        "all-new",
        "all-new-any-order",
        "all-found",
        "new-bastion-in-an-existing-cluster",
        "failed-in-kops-create",
        "failed-before-kops-with-a-users-bucket",
        "new-bucket-but-the-cluster-was-there",
        "profile-recreated-role-kept",
        "adjusted-is-kept",
        "only-the-new-service",
        "only-the-new-canary",
    ],
)
def test_cleanup_plan(
    steps: list[StepResult], removed: list[tuple[str, str]], kept: list[str]
) -> None:
    assert planned(steps) == removed
    assert sorted(kept_steps(steps)) == sorted(kept)


def test_plan_says_why_each_removal_is_the_runs() -> None:
    plan = cleanup_plan(SPEC, [NEW["state-store"], NEW["bastion-instance"], FOUND["namespace"]])

    by_action = {r.action: r for r in plan.removals}
    assert by_action["terminate-bastion"].reason == (
        "bastion-instance: launched bastion i-1 in subnet-1 (ap-northeast-1a)"
    )
    assert by_action["delete-cluster"].ids == STORE_IDS
    assert "the cluster step did not finish" in by_action["delete-cluster"].reason
    assert by_action["delete-state-store"].ids == STORE_IDS
    assert plan.kept == [Kept(step="namespace", reason="found in place: default exists")]


def test_a_new_bucket_holding_an_old_cluster_is_kept_and_says_why() -> None:
    plan = cleanup_plan(SPEC, [NEW["state-store"], FOUND["cluster"]])

    [bucket] = [k for k in plan.kept if k.step == "state-store"]
    assert bucket.reason == (
        f"created by this run, but it holds the kops state of {CLUSTER}, which existed before "
        "the run"
    )


def test_adjusted_and_partly_created_say_what_was_kept() -> None:
    plan = cleanup_plan(SPEC, [ADJUSTED["bastion-instance"], PROFILE_ONLY])

    assert [k.reason for k in plan.kept] == [
        "existed before this run, which only adjusted it: started bastion i-1",
        f"existed before this run (role), which only adjusted it: {PROFILE_ONLY.summary}",
    ]


def test_every_action_has_a_place_in_the_order() -> None:
    assert len(set(ACTION_ORDER)) == len(ACTION_ORDER) == len(EVERYTHING_REMOVED)


# ---- carrying it out ------------------------------------------------------------------------


def outcome(action: Any, result: Any, target: str = "x") -> Outcome:
    return Outcome(action=action, target=target, result=result, detail="")


@pytest.mark.parametrize(
    ("action", "earlier", "skipped"),
    [
        ("delete-state-store", [outcome("delete-cluster", "failed")], True),
        ("delete-state-store", [outcome("delete-cluster", "removed")], False),
        ("delete-state-store", [outcome("sweep", "failed")], False),
        ("delete-state-store", [], False),
        ("sweep", [outcome("delete-cluster", "failed")], False),
    ],
    ids=["cluster-failed", "cluster-deleted", "sweep-failed", "first", "sweep-still-runs"],
)
def test_skip_reason(action: Any, earlier: list[Outcome], skipped: bool) -> None:
    removal = Removal(action=action, target="x", reason="r")
    assert (skip_reason(removal, earlier) is not None) is skipped


# ---- the report -----------------------------------------------------------------------------


def test_report_lists_removed_not_removed_and_kept() -> None:
    plan = cleanup_plan(SPEC, [NEW["bastion-instance"], NEW["cluster"], FOUND["namespace"]])
    outcomes = [
        outcome("terminate-bastion", "removed", "i-1"),
        outcome("delete-cluster", "removed", CLUSTER),
        Outcome(action="sweep", target="vpc-1", result="failed", detail="left VPC vpc-1: why"),
    ]

    report = cleanup_report(
        cluster_name=CLUSTER, error="WaitTimeout: nginx\nnot ready", plan=plan, outcomes=outcomes
    )

    assert report.startswith(f"# Cleanup after the failed provisioning of `{CLUSTER}`")
    assert "> WaitTimeout: nginx not ready" in report
    assert "Removed 2, could not remove 1, kept 1 that existed before the run." in report
    assert "- terminate-bastion `i-1`: " in report
    assert "## Could not remove\n\n- sweep `vpc-1`: left VPC vpc-1: why" in report
    assert "- namespace: found in place: default exists" in report
    assert f"confirm_cluster_name={CLUSTER}" in report


def test_report_of_a_run_that_created_nothing() -> None:
    plan = CleanupPlan(removals=[], kept=[])

    report = cleanup_report(cluster_name=CLUSTER, error="SpecError: x", plan=plan, outcomes=[])

    assert "This run had created nothing: nothing to remove." in report
    assert "## Next" not in report


# ---- the ledger -----------------------------------------------------------------------------


class SettledFuture(PrefectFuture[Any]):
    """A future whose task run has already ended in `state`."""

    def __init__(self, state: State) -> None:
        self._final_state = state
        self.waited = False

    @property
    def state(self) -> State:
        return self._final_state  # type: ignore[return-value]

    def wait(self, timeout: float | None = None) -> None:
        self.waited = True

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        return self._final_state.result(raise_on_failure=raise_on_failure)  # type: ignore[union-attr]

    def add_done_callback(self, fn: Callable[[PrefectFuture[Any]], None]) -> None:
        fn(self)


def test_ledger_keeps_direct_results_and_completed_futures_in_order() -> None:
    ledger = StepLedger()
    direct = ledger.add(NEW["state-store"])
    completed = ledger.add(SettledFuture(Completed(data=NEW["bastion-role"])))
    ledger.add(SettledFuture(Failed(message="boom")))
    ledger.add(NEW["cluster"])

    assert direct is NEW["state-store"]
    assert isinstance(completed, SettledFuture)
    assert ledger.finished() == [NEW["state-store"], NEW["bastion-role"], NEW["cluster"]]


# ---- the words the tasks write, pinned on moto ---------------------------------------------
