"""The provisioning summary."""

from __future__ import annotations

from kops_nlb.core.reports.steps import artifact_key, provision_summary
from kops_nlb.core.results import StepResult


def test_artifact_keys_are_valid() -> None:
    assert artifact_key("provision", "nlb-demo.k8s.local") == "provision-nlb-demo-k8s-local"


def summary(steps: list[StepResult]) -> str:
    return provision_summary(
        cluster_name="c.k8s.local",
        region="ap-northeast-1",
        state_store="s3://b",
        nlb_dns="a1-x.elb.ap-northeast-1.amazonaws.com",
        bastion_id="i-1",
        bastion_ip="10.0.0.5",
        kubeconfig=".kube/c.yaml",
        steps=steps,
        deployment="local",
    )


def test_summary_says_what_changed_and_what_to_run_next() -> None:
    text = summary(
        [
            StepResult(step="cluster", changed=True, summary="created"),
            StepResult(step="bucket", changed=False, summary="exists"),
        ]
    )
    assert "Changed: cluster." in text
    assert "| cluster | changed | created |" in text
    assert "prefect deployment run verify/local" in text
    assert "aws ssm start-session --region ap-northeast-1 --target i-1" in text


def test_summary_of_a_rerun_says_nothing_changed() -> None:
    assert "Nothing changed" in summary(
        [StepResult(step="cluster", changed=False, summary="exists")]
    )
