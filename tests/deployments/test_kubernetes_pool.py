"""The `kops-nlb-k8s` pool: the Job its worker would submit, checked against the Kubernetes
schema (the `kubernetes` client's models, strictly), and the RBAC a platform team applies."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.utils.quantity import parse_quantity
from prefect.client.schemas.objects import FlowRun

from deployments.kubernetes_pool import job

ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def k8s_deployments() -> list[dict[str, Any]]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    found = [d for d in config["deployments"] if d["work_pool"]["name"] == job.POOL]
    assert len(found) == 3
    return found


def flow_run() -> FlowRun:
    return FlowRun(id=uuid.uuid4(), name="amber-heron", flow_id=uuid.uuid4())


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return [
        job.render_job(d["work_pool"].get("job_variables", {}), flow_run=flow_run())
        for d in k8s_deployments()
    ]


def test_the_job_the_worker_would_submit_fits_the_kubernetes_schema(
    manifests: list[dict[str, Any]],
) -> None:
    for manifest in manifests:
        assert job.manifest_errors(manifest) == []
        assert manifest["metadata"]["generateName"] == "amber-heron-"
        assert manifest["metadata"]["namespace"] == "kops-nlb"
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["prefect", "flow-run", "execute"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["AWS_DEFAULT_REGION"] == "ap-northeast-1"  # from prefect.yaml
        assert "PREFECT__FLOW_RUN_ID" in env  # from the worker


def test_the_job_is_one_a_platform_team_accepts(manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        pod = manifest["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"].startswith("ghcr.io/kops-nlb/kops-nlb-flows:")
        assert pod["serviceAccountName"] == "kops-nlb-flow-run"
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            assert parse_quantity(resources["requests"][kind]) <= parse_quantity(
                resources["limits"][kind]
            )
        assert manifest["spec"]["backoffLimit"] == 0  # a failed run is Prefect's to retry
        assert manifest["spec"]["activeDeadlineSeconds"] > 0
        # AWS credentials: by reference only (a Secret, optional under IRSA), never a value.
        assert not CREDENTIAL_NAMES & {e["name"] for e in container["env"]}
        assert container["envFrom"] == [{"secretRef": {"name": "kops-nlb-aws", "optional": True}}]


def test_the_template_holds_no_credential_value() -> None:
    text = job.TEMPLATE.read_text()
    for name in CREDENTIAL_NAMES:
        assert name not in text or "description" in text  # named in a description only
    defaults = {
        k: v.get("default")
        for k, v in job.load_template()["variables"]["properties"].items()
        if "default" in v
    }
    assert not any(name in str(defaults) for name in CREDENTIAL_NAMES)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda pod: pod.update(serviceAcountName="x"), "serviceAcountName: no such field"),
        (lambda pod: pod.update(automountServiceAccountToken="no"), "expected bool"),
        (
            lambda pod: pod["containers"][0].pop("name"),
            "containers[0].name: required field missing",
        ),
        (lambda pod: pod["containers"][0]["resources"]["limits"].update(cpu="lots"), "quantity"),
        (lambda pod: pod.update(restartPolicy="Always"), "Never or OnFailure"),
    ],
    ids=["unknown-field", "wrong-type", "missing-required", "bad-quantity", "restart-policy"],
)
def test_the_schema_check_catches_a_broken_job(
    manifests: list[dict[str, Any]], change: Any, error: str
) -> None:
    broken = copy.deepcopy(manifests[0])
    change(broken["spec"]["template"]["spec"])
    errors = job.manifest_errors(broken)
    assert any(error in e for e in errors), errors


def test_rbac_fits_the_schema_and_grants_the_least() -> None:
    objects = job.rbac_manifests()
    for manifest in objects:
        assert job.manifest_errors(manifest) == [], manifest["kind"]
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    flow_run_sa = by_kind[("ServiceAccount", "kops-nlb-flow-run")]
    assert flow_run_sa["automountServiceAccountToken"] is False
    assert flow_run_sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::"
    )
    # The flow runs' account is bound to nothing; the worker's only to its namespaced Role.
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    subjects = {s["name"] for b in bindings for s in b["subjects"]}
    assert subjects == {"prefect-worker"}
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    role = by_kind[("Role", "prefect-worker")]
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {r for r, _ in granted} == {"jobs", "pods", "pods/log", "events"}
    assert not any("*" in r or "*" in v for r, v in granted)
    assert not any(r == "secrets" for r, _ in granted)
    # The template runs the Jobs in the namespace and with the account rbac.yaml creates.
    variables = job.load_template()["variables"]["properties"]
    assert variables["namespace"]["default"] == flow_run_sa["metadata"]["namespace"]
    assert variables["service_account_name"]["default"] == flow_run_sa["metadata"]["name"]
