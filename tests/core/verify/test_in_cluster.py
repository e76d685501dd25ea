"""The in-cluster probe: its Job, its output, which nodes try, and what their tries mean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kops_nlb.core.nlb import NlbInterface, TargetGroupSettings, TargetHealth
from kops_nlb.core.verify.access_log import AccessLogRecord
from kops_nlb.core.verify.evidence import PodLog
from kops_nlb.core.verify.in_cluster import (
    NON_TARGET,
    TARGET,
    InClusterAttempt,
    InClusterRun,
    choose_attempts,
    hairpin_expected,
    in_cluster_check,
    in_cluster_markdown,
    judge_run,
)
from kops_nlb.core.verify.in_cluster_job import (
    IMAGE,
    MAX_TIME_S,
    RUN_LABEL,
    CurlOutput,
    container_exit_code,
    job_finished,
    parse_curl_output,
    probe_job,
    run_selector,
    user_agent,
)
from kops_nlb.core.verify.probe_script import ProbeTarget
from kops_nlb.core.workload import NodeInfo

TOKEN = "0123456789ab"
HOST = "internal-nlb-1234.elb.ap-northeast-1.amazonaws.com"
PRESERVING = [
    TargetGroupSettings(
        name="k8s-tg",
        target_type="instance",
        protocol="TCP",
        preserve_client_ip=None,
        proxy_protocol_v2=False,
    )
]
NOT_PRESERVING = [
    TargetGroupSettings(
        name="k8s-tg",
        target_type="instance",
        protocol="TCP",
        preserve_client_ip=False,
        proxy_protocol_v2=False,
    )
]


def node(name: str, ip: str, zone: str, *, cp: bool = False, ready: bool = True) -> NodeInfo:
    return NodeInfo(
        name=name, instance_id=f"i-{name}", internal_ip=ip, zone=zone, control_plane=cp, ready=ready
    )


def health(name: str, state: str = "healthy") -> TargetHealth:
    return TargetHealth(target_group="arn:tg", instance_id=f"i-{name}", port=30080, state=state)


INTERFACES = [
    NlbInterface(
        interface_id="eni-a", availability_zone="az-a", subnet_id="s-a", private_ip="10.0.1.9"
    ),
    NlbInterface(
        interface_id="eni-c", availability_zone="az-c", subnet_id="s-c", private_ip="10.0.2.9"
    ),
]
CP = node("cp", "10.0.1.5", "az-a", cp=True)
W1 = node("w1", "10.0.1.10", "az-a")
W2 = node("w2", "10.0.2.10", "az-c")


def attempt(kind: str, n: NodeInfo, address: str) -> InClusterAttempt:
    return InClusterAttempt(
        kind=kind,
        node_name=n.name,
        node_ip=str(n.internal_ip),
        target=ProbeTarget(label=f"in-cluster:{kind}", host=HOST, port=80, resolve_ip=address),
    )


# The Job ---------------------------------------------------------------------------------------
def test_the_job_curls_the_zone_address_once_from_the_pinned_node_on_its_network() -> None:
    job = probe_job(
        namespace="web",
        token=TOKEN,
        kind=TARGET,
        node_name="w1",
        target=attempt(TARGET, W1, "10.0.1.9").target,
    )
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert job["metadata"]["labels"][RUN_LABEL] == TOKEN
    assert job["spec"]["template"]["metadata"]["labels"][RUN_LABEL] == TOKEN
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] > 0
    assert pod["nodeName"] == "w1" and pod["hostNetwork"] is True
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert {
        "key": "node-role.kubernetes.io/control-plane",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE and "command" not in container
    args = container["args"]
    assert args[args.index("--max-time") + 1] == str(MAX_TIME_S)
    assert args[args.index("--resolve") + 1] == f"{HOST}:80:10.0.1.9"
    assert args[args.index("--user-agent") + 1] == user_agent(TOKEN, TARGET)
    assert args[-1] == f"http://{HOST}:80/?in-cluster={TOKEN}&from=target"


def test_the_job_needs_an_address_and_a_well_formed_token() -> None:
    with pytest.raises(ValueError, match="resolve_ip"):
        probe_job(
            namespace="web",
            token=TOKEN,
            kind=TARGET,
            node_name="w1",
            target=ProbeTarget(label="x", host=HOST),
        )
    with pytest.raises(ValueError, match="token"):
        probe_job(
            namespace="web",
            token="x; rm -rf /",
            kind=TARGET,
            node_name="w1",
            target=attempt(TARGET, W1, "10.0.1.9").target,
        )
    assert run_selector(TOKEN) == f"{RUN_LABEL}={TOKEN}"


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("IN-CLUSTER 200 10.0.1.9\n", CurlOutput(200, "10.0.1.9", None)),
        (
            "curl: (28) Connection timed out after 5001 milliseconds\nIN-CLUSTER 000 \n",
            CurlOutput(0, None, "Connection timed out after 5001 milliseconds"),
        ),
        ("", CurlOutput(None, None, None)),
        ("twin container runtime: no curl\n", CurlOutput(None, None, None)),
    ],
)
def test_the_output_gives_the_http_code_and_curls_error(log: str, expected: CurlOutput) -> None:
    assert parse_curl_output(log) == expected


def test_a_job_is_finished_once_complete_or_failed_and_the_exit_code_is_the_containers() -> None:
    assert not job_finished({"status": {}})
    assert not job_finished({"status": {"conditions": [{"type": "Complete", "status": "False"}]}})
    assert job_finished({"status": {"conditions": [{"type": "Failed", "status": "True"}]}})
    running = {"status": {"containerStatuses": [{"name": "probe", "state": {"running": {}}}]}}
    assert container_exit_code(running) is None
    done = {
        "status": {
            "containerStatuses": [{"name": "probe", "state": {"terminated": {"exitCode": 28}}}]
        }
    }
    assert container_exit_code(done) == 28


# Which nodes try -------------------------------------------------------------------------------
def test_a_healthy_target_tries_its_zone_and_the_excluded_control_plane_tries_too() -> None:
    attempts, skipped = choose_attempts(
        nodes=[W2, CP, W1],
        health=[health("w1"), health("w2")],
        interfaces=INTERFACES,
        host=HOST,
        port=80,
    )
    assert skipped == []
    assert attempts == [attempt(TARGET, W1, "10.0.1.9"), attempt(NON_TARGET, CP, "10.0.1.9")]


def test_the_target_comes_from_the_zone_with_fewest_targets() -> None:
    w3 = node("w3", "10.0.1.11", "az-a")
    attempts, _ = choose_attempts(
        nodes=[CP, W1, W2, w3],
        health=[health("w1"), health("w2"), health("w3")],
        interfaces=INTERFACES,
        host=HOST,
        port=80,
    )
    assert attempts[0] == attempt(TARGET, W2, "10.0.2.9")


def test_unhealthy_or_not_ready_nodes_do_not_try_and_the_reason_is_given() -> None:
    attempts, skipped = choose_attempts(
        nodes=[CP, node("w1", "10.0.1.10", "az-a", ready=False), W2],
        health=[health("w1"), health("w2", "unhealthy"), health("cp", "unhealthy")],
        interfaces=INTERFACES,
        host=HOST,
        port=80,
    )
    assert attempts == []
    assert len(skipped) == 2
    assert "healthy target" in skipped[0] and "every Ready node is a target" in skipped[1]


# What the tries mean ---------------------------------------------------------------------------
def record(remote: str, kind: str) -> AccessLogRecord:
    return AccessLogRecord(
        remote_addr=remote,
        remote_user=None,
        time_local=datetime(2026, 1, 1, tzinfo=UTC),
        request="GET / HTTP/1.1",
        method="GET",
        path="/",
        protocol="HTTP/1.1",
        status=200,
        body_bytes_sent=615,
        http_referer=None,
        http_user_agent=user_agent(TOKEN, kind),
        http_x_forwarded_for=None,
    )


def pod_log(name: str, on: str, *records: AccessLogRecord) -> PodLog:
    return PodLog(pod_name=name, node_name=on, pod_ip=None, node_ip=None, records=records)


def run(
    kind: str, n: NodeInfo, *, exit_code: int | None, code: int | None, finished: bool = True
) -> InClusterRun:
    error = "Connection timed out" if exit_code == 28 else None
    return InClusterRun(
        attempt=attempt(kind, n, "10.0.1.9"),
        finished=finished,
        exit_code=exit_code,
        output=CurlOutput(code, "10.0.1.9", error),
    )


TIMED_OUT, ANSWERED = {"exit_code": 28, "code": 0}, {"exit_code": 0, "code": 200}


@pytest.mark.parametrize(
    ("the_run", "logs", "groups", "outcome", "expected", "said"),
    [
        (run(TARGET, W1, **TIMED_OUT), [], PRESERVING, "timed out", True, "hairpin"),
        (run(TARGET, W1, **TIMED_OUT), [], NOT_PRESERVING, "timed out", False, "no hairpin"),
        (
            run(TARGET, W1, **ANSWERED),
            [pod_log("nginx-a", "w1", record("10.0.1.10", TARGET))],
            PRESERVING,
            "answered",
            False,
            "delivered a hairpin",
        ),
        (
            run(TARGET, W1, **ANSWERED),
            [pod_log("nginx-b", "w2", record("10.0.1.10", TARGET))],
            PRESERVING,
            "answered",
            True,
            "another target",
        ),
        (
            run(TARGET, W1, **ANSWERED),
            [pod_log("nginx-a", "w1", record("10.0.1.9", TARGET))],
            NOT_PRESERVING,
            "answered",
            True,
            "10.0.1.9",
        ),
        (run(TARGET, W1, exit_code=7, code=0), [], PRESERVING, "failed", False, "curl exit 7"),
        (run(TARGET, W1, **ANSWERED), [], NOT_PRESERVING, "answered", False, "no nginx pod"),
        (
            run(NON_TARGET, CP, **ANSWERED),
            [pod_log("nginx-a", "w1", record("10.0.1.5", NON_TARGET))],
            PRESERVING,
            "answered",
            True,
            "10.0.1.5",
        ),
        (
            run(NON_TARGET, CP, **ANSWERED),
            [pod_log("nginx-a", "w1", record("10.0.1.10", NON_TARGET))],
            PRESERVING,
            "answered",
            False,
            "not the node's own 10.0.1.5",
        ),
        (
            run(NON_TARGET, CP, **ANSWERED),
            [pod_log("nginx-a", "w1", record("10.0.1.9", NON_TARGET))],
            NOT_PRESERVING,
            "answered",
            True,
            "10.0.1.9",
        ),
        (run(NON_TARGET, CP, **ANSWERED), [], PRESERVING, "answered", False, "no nginx pod"),
        (run(NON_TARGET, CP, **TIMED_OUT), [], PRESERVING, "timed out", False, "cannot use"),
        (
            run(NON_TARGET, CP, exit_code=None, code=None, finished=False),
            [],
            PRESERVING,
            "did not finish",
            False,
            "did not finish",
        ),
    ],
)
def test_each_try_is_judged_against_what_aws_documents(
    the_run: InClusterRun,
    logs: list[PodLog],
    groups: list[TargetGroupSettings],
    outcome: str,
    expected: bool,
    said: str,
) -> None:
    finding = judge_run(the_run, token=TOKEN, pod_logs=logs, target_groups=groups)
    assert (finding.outcome, finding.expected) == (outcome, expected)
    assert said in finding.detail
    assert finding.node == the_run.attempt.node_name


def test_only_this_attempts_requests_count_as_what_nginx_logged() -> None:
    other = record("10.0.9.9", TARGET)  # the other attempt's request
    logs = [pod_log("nginx-a", "w1", record("10.0.1.5", NON_TARGET), other)]
    finding = judge_run(
        run(NON_TARGET, CP, **ANSWERED), token=TOKEN, pod_logs=logs, target_groups=PRESERVING
    )
    assert finding.logged_addresses == ("10.0.1.5",)
    assert finding.logged_by == ("nginx-a",)


def test_the_hairpin_drop_applies_to_preserving_instance_targets_only() -> None:
    assert hairpin_expected(PRESERVING)
    assert not hairpin_expected(NOT_PRESERVING)
    ip = TargetGroupSettings(
        name="tg",
        target_type="ip",
        protocol="TCP",
        preserve_client_ip=True,
        proxy_protocol_v2=False,
    )
    assert not hairpin_expected([ip])


def test_the_check_fails_only_on_what_aws_rules_out_and_the_report_shows_each_try() -> None:
    timeout = judge_run(
        run(TARGET, W1, **TIMED_OUT), token=TOKEN, pod_logs=[], target_groups=PRESERVING
    )
    answered = judge_run(
        run(NON_TARGET, CP, **ANSWERED),
        token=TOKEN,
        pod_logs=[pod_log("nginx-a", "w1", record("10.0.1.5", NON_TARGET))],
        target_groups=PRESERVING,
    )
    passed = in_cluster_check([timeout, answered], [])
    assert passed.passed and passed.name == "in_cluster_clients"
    failing = judge_run(
        run(NON_TARGET, CP, **TIMED_OUT), token=TOKEN, pod_logs=[], target_groups=PRESERVING
    )
    failed = in_cluster_check([timeout, failing], [])
    assert not failed.passed and "cannot use" in failed.detail and "hairpin" not in failed.detail
    report = in_cluster_markdown([timeout, answered], ["no node outside"])
    assert "| target | w1 (10.0.1.10) | 10.0.1.9 | timed out | - | yes |" in report
    assert "| non-target | cp (10.0.1.5) | 10.0.1.9 | answered 200 | 10.0.1.5 | yes |" in report
    assert "not tried: no node outside" in report
