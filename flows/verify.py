"""`verify`: prove from the bastion that the internal NLB preserves the client IP.

Read-only towards the environment: it looks the pieces up, sends marked requests through the NLB
from the bastion over SSM, reads the nginx pods' access logs, and judges the facts with pure
checks. Any failed check fails the run, naming the checks; the evidence is kept as artifacts.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict, Field

from kops_nlb.core.bastion import BastionInfo
from kops_nlb.core.errors import KopsNlbError, VerificationFailed
from kops_nlb.core.reports.steps import artifact_key
from kops_nlb.core.reports.verify import checks_table, evidence_markdown, failure_message
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.checks import evidence_summary, run_checks
from kops_nlb.core.verify.facts import (
    ServiceDiscovery,
    canary_probe_targets,
    probe_targets,
    verification_facts,
)
from kops_nlb.core.verify.in_cluster import (
    InClusterFinding,
    choose_attempts,
    in_cluster_check,
    in_cluster_markdown,
    judge_run,
)
from kops_nlb.core.verify.probe_run import ProbeCommandFailed, ProbeRun
from kops_nlb.core.verify.probe_script import (
    ProbeTarget,
    build_probe_script,
    max_script_duration_s,
    new_probe_token,
)
from kops_nlb.core.verify.slo import SloPolicy
from tasks.bastion import find_bastion
from tasks.cluster import export_kubeconfig
from tasks.in_cluster import probe_in_cluster
from tasks.nlb import find_service_nlb, nlb_interfaces, nlb_target_groups, nlb_target_health
from tasks.preflight import caller_account
from tasks.probe import collect_access_logs, run_probe
from tasks.trend import record_verification
from tasks.workload import describe_service, list_nginx_pods, list_nodes

PROBE_REQUEST_TIMEOUT_S = 5.0


class CheckOutcome(BaseModel):
    """One check's verdict, as kept in the flow result."""

    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    detail: str


class VerifyResult(BaseModel):
    """The verdict of one verification run and its key evidence."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    token: str
    bastion_private_ip: str
    nlb_dns_name: str
    client_addresses: dict[str, int]
    canary_addresses: dict[str, int] = Field(default_factory=dict)
    checks: list[CheckOutcome]
    in_cluster: list[InClusterFinding] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)


@flow(name="verify", task_runner=ThreadPoolTaskRunner(max_workers=8))
def verify(
    spec: EnvironmentSpec = EnvironmentSpec(),  # noqa: B008
    requests_per_target: Annotated[int, Field(ge=1, le=30)] = 10,
    slo: SloPolicy = SloPolicy(),  # noqa: B008
    in_cluster_probe: bool = False,
) -> VerifyResult:
    """Probe the NLB from the bastion and check what nginx logged; fails when any check fails.

    With `in_cluster_probe`, a Job on a node that is a target of the NLB and one on a node that
    is not also request it once each (about 10 s more); the report says what they got. A run
    that fails before its checks (no NLB, no bastion, a lost probe) is on record as a failed
    run too, so it counts in the trend and the failing streak.
    """
    try:
        return _verify(spec, requests_per_target, slo, in_cluster_probe)
    except VerificationFailed:
        raise  # judged by the checks, and on record already
    except Exception:
        _record_failed_run(spec, slo)
        raise


def _record_failed_run(spec: EnvironmentSpec, slo: SloPolicy) -> None:
    """Record a run that ended before its checks; never masks the run's own error."""
    try:
        trend = record_verification(
            cluster_name=spec.cluster_name,
            token=new_probe_token(),
            passed=False,
            probes=[],
            policy=slo,
        )
        _publish_trend(spec, trend.markdown)
    except Exception as exc:  # noqa: BLE001 - the run's own error is the one to raise
        get_run_logger().warning("this failed run could not be put on record: %s", exc)


def _publish_trend(spec: EnvironmentSpec, markdown: str) -> None:
    create_markdown_artifact(
        key=artifact_key("verify-trend", spec.cluster_name),
        markdown=markdown,
        description=f"Success ratio and latency of the last verification runs of {spec.cluster_name}",
    )


def _verify(
    spec: EnvironmentSpec, requests_per_target: int, slo: SloPolicy, in_cluster_probe: bool
) -> VerifyResult:
    logger = get_run_logger()
    timings: dict[str, float] = {}
    clock = time.monotonic()

    # Discover.
    state_store = f"s3://{spec.bucket_for(caller_account(spec.region))}"
    kubeconfig = export_kubeconfig(spec, state_store)  # fresh, short-lived admin credentials
    nodes_f = list_nodes.submit(kubeconfig)
    pods_f = list_nginx_pods.submit(spec, kubeconfig)
    bastion_f = find_bastion.submit(spec)
    main = _discover(spec, kubeconfig)
    canary = _discover(spec.negative_control_spec(), kubeconfig) if spec.negative_control else None
    bastion, nodes, pods = bastion_f.result(), nodes_f.result(), pods_f.result()
    timings["discovery"], clock = time.monotonic() - clock, time.monotonic()

    # Probe through the DNS name and through each zone's address (the canary's too).
    main_targets = probe_targets(main.nlb, main.interfaces, spec.service_port)
    canary_targets = [] if canary is None else canary_probe_targets(canary, spec.service_port)
    targets = main_targets + canary_targets
    budget = max_script_duration_s(
        targets=targets, requests_per_target=requests_per_target, timeout_s=PROBE_REQUEST_TIMEOUT_S
    )
    started = datetime.now(UTC)
    in_cluster_token = new_probe_token()
    attempts, skipped = (
        choose_attempts(
            nodes=nodes,
            health=main.health,
            interfaces=main.interfaces,
            host=main.nlb.dns_name,
            port=spec.service_port,
        )
        if in_cluster_probe
        else ([], [])
    )
    in_cluster_f = (
        probe_in_cluster.submit(spec, kubeconfig, attempts=attempts, token=in_cluster_token)
        if attempts
        else None
    )
    token, probe = _probe(spec, bastion, targets, requests_per_target, budget)
    in_cluster_runs = [] if in_cluster_f is None else in_cluster_f.result()
    timings["probe"], clock = time.monotonic() - clock, time.monotonic()

    # Collect what nginx logged.
    pod_logs = collect_access_logs(
        spec, kubeconfig, pods=pods, nodes=nodes, started=started, token=token
    )
    in_cluster_logs = (
        collect_access_logs(
            spec, kubeconfig, pods=pods, nodes=nodes, started=started, token=in_cluster_token
        )
        if in_cluster_probe
        else []
    )
    timings["logs"], clock = time.monotonic() - clock, time.monotonic()

    # Check.
    facts = verification_facts(
        spec=spec,
        token=token,
        bastion_ip=bastion.private_ip,
        probe_stdout=probe.stdout,
        probe_truncated=probe.truncated,
        expected_probes=len(main_targets) * requests_per_target,
        pod_logs=pod_logs,
        nlb=main.nlb,
        interfaces=main.interfaces,
        health=main.health,
        nodes=nodes,
        service=main.service,
        target_groups=main.target_groups,
        canary=canary,
        canary_expected_probes=len(canary_targets) * requests_per_target,
        bastion_instance_id=bastion.instance_id,
    )
    results = run_checks(facts)
    findings = [
        judge_run(
            run, token=in_cluster_token, pod_logs=in_cluster_logs, target_groups=main.target_groups
        )
        for run in in_cluster_runs
    ]
    if in_cluster_probe:
        results.append(in_cluster_check(findings, skipped))
    summary = evidence_summary(facts)
    timings["checks"] = time.monotonic() - clock

    # Report.
    create_table_artifact(
        key=artifact_key("verify-checks", spec.cluster_name),
        table=checks_table(results),
        description=f"Client-IP checks of {spec.cluster_name} (token {token})",
    )
    create_markdown_artifact(
        key=artifact_key("verify-evidence", spec.cluster_name),
        markdown=evidence_markdown(
            cluster_name=spec.cluster_name,
            summary=summary,
            results=results,
            nlb_dns=main.nlb.dns_name,
            timings=timings,
        ),
        description=f"Evidence of client-IP preservation for {spec.cluster_name}",
    )
    if in_cluster_probe:
        create_markdown_artifact(
            key=artifact_key("verify-in-cluster", spec.cluster_name),
            markdown=in_cluster_markdown(findings, skipped),
            description=f"What clients inside {spec.cluster_name} get from its NLB",
        )
    passed = all(r.passed for r in results)
    trend = record_verification(
        cluster_name=spec.cluster_name,
        token=token,
        passed=passed,
        probes=list(facts.probes),
        policy=slo,
    )
    _publish_trend(spec, trend.markdown)
    logger.info("verification %s (token %s)", "passed" if passed else "FAILED", token)
    if not passed:
        raise VerificationFailed(failure_message(results))
    return VerifyResult(
        passed=passed,
        token=token,
        bastion_private_ip=bastion.private_ip,
        nlb_dns_name=main.nlb.dns_name,
        client_addresses={a.address: a.count for a in summary.client_addresses},
        canary_addresses={a.address: a.count for a in summary.canary_addresses},
        checks=[CheckOutcome(name=r.name, passed=r.passed, detail=r.detail) for r in results],
        in_cluster=findings,
        timings=timings,
    )


def _probe(
    spec: EnvironmentSpec,
    bastion: BastionInfo,
    targets: list[ProbeTarget],
    requests_per_target: int,
    budget: float,
) -> tuple[str, ProbeRun]:
    """Run the probe script on the bastion; return its token and outcome.

    A command that SSM lost (never delivered, or silent until its timeout) is sent once more
    with a fresh token: only the requests marked with the returned token are judged, so what
    the lost one may have sent cannot count twice.
    """

    def run(token: str) -> ProbeRun:
        commands = build_probe_script(
            token=token,
            targets=targets,
            requests_per_target=requests_per_target,
            source_ip=bastion.private_ip,
            timeout_s=PROBE_REQUEST_TIMEOUT_S,
        )
        return run_probe(
            region=spec.region,
            instance_id=bastion.instance_id,
            commands=commands,
            timeout_s=int(budget) + 30,
            poll=spec.poll,
        )

    token = new_probe_token()
    try:
        return token, run(token)
    except ProbeCommandFailed as exc:
        if not exc.lost:
            raise
        get_run_logger().warning("%s; sending the probe again with a new token", exc)
    token = new_probe_token()
    return token, run(token)


def _discover(spec: EnvironmentSpec, kubeconfig: str) -> ServiceDiscovery:
    """Return the spec's Service and its NLB as they are now; fails when there is no NLB."""
    service = describe_service(spec, kubeconfig)
    nlb = find_service_nlb(spec, service.uid, service.hostname)
    if nlb is None:
        raise KopsNlbError(
            f"no NLB found for Service {spec.namespace}/{spec.service_name}: run `provision`"
        )
    health = nlb_target_health.submit(spec, nlb.arn)
    groups = nlb_target_groups.submit(spec, nlb.arn)
    interfaces = nlb_interfaces(spec, nlb.arn)
    return ServiceDiscovery(
        service=service,
        nlb=nlb,
        interfaces=interfaces,
        health=health.result(),
        target_groups=groups.result(),
    )
