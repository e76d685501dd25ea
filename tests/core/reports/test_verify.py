"""The verification report: the checks table, the failure message and the evidence markdown."""

from __future__ import annotations

from kops_nlb.core.reports.verify import checks_table, evidence_markdown, failure_message
from kops_nlb.core.verify.checks import CheckResult
from kops_nlb.core.verify.evidence import (
    AddressSummary,
    EvidenceSummary,
    LabelSummary,
    PodSummary,
    SampleLine,
)

PASSED = CheckResult(name="client_ip_preserved", passed=True, detail="all 20 from 10.0.0.5")
FAILED = CheckResult(name="spread_over_pods", passed=False, detail="one pod | of two answered")

SUMMARY = EvidenceSummary(
    token="t0k",
    bastion_ip="10.0.0.5",
    expected_policy="Local",
    pods=(
        PodSummary(
            pod_name="nginx-a",
            node_name="node-1",
            pod_ip="100.96.1.2",
            node_ip=None,
            probe_lines=20,
            other_lines=3,
        ),
    ),
    client_addresses=(
        AddressSummary(address="10.0.0.5", count=19, kind="bastion"),
        AddressSummary(address="10.0.1.7", count=1, kind="node", owner="node-1"),
    ),
    samples=(
        SampleLine(
            pod_name="nginx-a",
            remote_addr="10.0.0.5",
            time="04/Dec/2026:22:00:00 +0000",
            request="GET /?probe=t0k&i=1 HTTP/1.1",
            status=200,
            user_agent=None,
        ),
    ),
    labels=(
        LabelSummary(
            label="dns",
            count=10,
            ok=10,
            statuses={"200": 10},
            remote_ips=("10.0.2.1",),
            median_s=0.0123,
            max_s=None,
        ),
    ),
    unmatched_probe_lines=2,
)


def test_checks_table_has_one_row_per_check_in_order() -> None:
    assert checks_table([PASSED, FAILED]) == [
        {"check": "client_ip_preserved", "result": "pass", "detail": "all 20 from 10.0.0.5"},
        {"check": "spread_over_pods", "result": "FAIL", "detail": "one pod | of two answered"},
    ]


def test_failure_message_names_only_the_failed_checks() -> None:
    assert failure_message([PASSED, FAILED]) == (
        "verification failed: spread_over_pods: one pod | of two answered"
    )


def test_evidence_markdown_of_a_passing_run() -> None:
    text = evidence_markdown(
        cluster_name="c.k8s.local",
        summary=SUMMARY,
        results=[PASSED],
        nlb_dns="a1.elb",
        timings={"probe": 1.5},
    )
    assert text.startswith("# Client IP through `a1.elb`\n")
    assert "**Verdict:** the NLB of `c.k8s.local` preserves the client IP" in text
    assert "(probe token `t0k`, bastion `10.0.0.5`, expected policy `Local`)" in text
    assert "| `10.0.1.7` | 1 | node (node-1) |" in text
    assert "| nginx-a | node-1 | 100.96.1.2 | - | 20 | 3 |" in text
    assert "| dns | 10 | 10 | 200: 10 | 10.0.2.1 | 0.012 | - |" in text
    assert (
        'nginx-a: 10.0.0.5 [04/Dec/2026:22:00:00 +0000] "GET /?probe=t0k&i=1 HTTP/1.1" 200 "-"'
        in text
    )
    assert "- probe: 1.50 s" in text
    assert text.endswith("2 probe lines matched no request.\n")


def test_evidence_markdown_of_a_failing_run_marks_and_escapes() -> None:
    text = evidence_markdown(
        cluster_name="c.k8s.local",
        summary=SUMMARY,
        results=[PASSED, FAILED],
        nlb_dns="a1.elb",
        timings={},
    )
    assert "does NOT prove it preserves" in text
    assert "| spread_over_pods | **FAIL** | one pod \\| of two answered |" in text
