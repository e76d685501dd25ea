"""Kills: a provision, and a teardown, SIGKILLed at points through their work (the worker dies
with kops and everything it started), then run again: it converges, with nothing duplicated,
and the teardown after it leaves nothing."""

from __future__ import annotations

import time
from collections import Counter

from chaos.census import census, describe, excess
from chaos.killing import KillPoint, run_and_kill
from chaos.lifecycle import Life, first_line, tear_down
from chaos.report import Row, Section
from chaos.twin import ChaosTwin
from flows.provision import provision
from kops_nlb.core.spec import EnvironmentSpec

# The twin's kops builds in this order: the VPC, ..., the API's load balancer, then one
# RunInstances per instance (control plane, a node per zone); the bastion's is the fourth
# RunInstances and the Service's load balancer the second CreateLoadBalancer.
PROVISION_POINTS = (
    KillPoint("provision, during `kops create cluster` (its first VPC)", aws=("ec2", "CreateVpc")),
    KillPoint(
        "provision, during `kops create cluster` (its first instance)",
        aws=("ec2", "RunInstances"),
    ),
    KillPoint("provision, during the bastion launch", aws=("ec2", "RunInstances"), nth=4),
    KillPoint("provision, during validation (`kops validate cluster`)", kops='"validate"'),
    KillPoint("provision, while nginx rolls out", kube=("POST", "deployments")),
    KillPoint(
        "provision, during the NLB wait (the Service's load balancer is being made)",
        aws=("elbv2", "CreateLoadBalancer"),
        nth=2,
    ),
)
TEARDOWN_POINTS = (
    KillPoint("teardown, while the workload is deleted", kube=("DELETE", "")),
    KillPoint("teardown, during the bastion's termination", aws=("ec2", "TerminateInstances")),
    KillPoint("teardown, during `kops delete cluster`", kops='"delete"'),
    KillPoint(
        "teardown, mid-sweep (after kops deleted the VPC)",
        aws=("elbv2", "DescribeLoadBalancers"),
        after=("ec2", "DeleteVpc"),
    ),
    KillPoint("teardown, while the state bucket is deleted", aws=("s3", "DeleteBucket")),
)
COLUMNS = (
    "killed",
    "the kill",
    "run again",
    "resources after",
    "duplicates",
    "left after teardown",
)


def _provision_row(
    twin: ChaosTwin, spec: EnvironmentSpec, point: KillPoint, expected: Counter[str]
) -> Row:
    kill = run_and_kill(twin, "provision", spec, point, log=twin.home / "chaos-children.log")
    life, again = Life(), "ok"
    try:
        provision(spec=spec)
    except Exception as exc:  # noqa: BLE001 - the outcome is the measurement
        again = f"failed ({first_line(exc)})"
        life.broke.append(f"the run after the kill failed: {first_line(exc)}")
    found = census(twin, spec)
    duplicates = excess(found, expected)
    if duplicates:
        life.broke.append(f"duplicates: {duplicates}")
    tear_down(spec, life)
    if kill != "killed":
        life.broke.append(f"not killed: the run {kill}")
    return Row(
        cells=(
            point.label,
            kill,
            again,
            describe(found),
            str(sum(duplicates.values())),
            str(sum(len(v) for v in life.left.values())),
        ),
        held=not life.broke,
        broke="; ".join(life.broke),
    )


def _teardown_row(twin: ChaosTwin, spec: EnvironmentSpec, point: KillPoint) -> Row:
    life = Life()
    try:
        provision(spec=spec)
    except Exception as exc:  # noqa: BLE001
        life.broke.append(f"provision before the kill failed: {first_line(exc)}")
    kill = run_and_kill(twin, "teardown", spec, point, log=twin.home / "chaos-children.log")
    tear_down(spec, life)
    found = census(twin, spec)
    if found:
        life.broke.append(f"still there: {describe(found)}")
    if kill != "killed":
        life.broke.append(f"not killed: the run {kill}")
    return Row(
        cells=(
            point.label,
            kill,
            life.steps.get("teardown", "-"),
            describe(found),
            "0",
            str(sum(len(v) for v in life.left.values())),
        ),
        held=not life.broke,
        broke="; ".join(life.broke),
    )


def run(twin: ChaosTwin, base: EnvironmentSpec, expected: Counter[str]) -> Section:
    """Kill at every point and return the table."""
    section = Section(
        title="Kills",
        intro=(
            "Each row runs the flow in a process of its own and sends SIGKILL to its whole "
            "process group (kops included) the moment the twin serves the call named, then runs "
            "the flow again in the chaos process. For provision: the re-run must complete with "
            "no kind above the fault-free baseline, and the teardown after it leave nothing. "
            "For teardown: the re-run must leave nothing of the cluster at the twin."
        ),
        columns=COLUMNS,
    )
    started = time.monotonic()
    for index, point in enumerate(PROVISION_POINTS):
        spec = base.model_copy(update={"cluster_name": f"kill-p{index}.k8s.local"})
        section.rows.append(_provision_row(twin, spec, point, expected))
    for index, point in enumerate(TEARDOWN_POINTS):
        spec = base.model_copy(update={"cluster_name": f"kill-t{index}.k8s.local"})
        section.rows.append(_teardown_row(twin, spec, point))
    section.seconds = time.monotonic() - started
    return section
