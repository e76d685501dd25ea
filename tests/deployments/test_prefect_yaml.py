"""prefect.yaml is checked: Prefect ignores unknown keys silently, so these tests do not."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL_KEYS = {"name", "prefect-version", "build", "push", "pull", "definitions", "deployments"}
DEPLOYMENT_KEYS = {
    "name",
    "version",
    "tags",
    "description",
    "schedule",
    "schedules",
    "entrypoint",
    "parameters",
    "work_pool",
    "concurrency_limit",
    "enforce_parameter_schema",
    "pull",
    "build",
    "push",
    "triggers",
    "paused",
}
SCHEDULE_KEYS = {
    "cron",
    "interval",
    "rrule",
    "timezone",
    "active",
    "slug",
    "parameters",
    "anchor_date",
}
EXPECTED = {
    "provision/dev",
    "verify/dev",
    "teardown/dev",
    "provision/local",
    "verify/local",
    "teardown/local",
    "provision/dev-k8s",
    "verify/dev-k8s",
    "teardown/dev-k8s",
    "plan/dev",
    "plan/local",
    "resilience/dev",
    "resilience/local",
}
POOLS = {"dev": "kops-nlb", "local": "kops-nlb", "dev-k8s": "kops-nlb-k8s"}


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return data


def flow_of(entrypoint: str) -> Any:
    module, _, name = entrypoint.partition(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


DEPLOYMENTS = load()["deployments"]


def deployment_id(deployment: dict[str, Any]) -> str:
    return f"{flow_of(deployment['entrypoint']).name}/{deployment['name']}"


def test_only_known_top_level_keys() -> None:
    assert set(load()) <= TOP_LEVEL_KEYS


def test_every_expected_deployment_is_declared_once() -> None:
    names = [deployment_id(d) for d in DEPLOYMENTS]
    assert sorted(names) == sorted(EXPECTED)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=deployment_id)
def test_deployment_keys_and_work_pool(deployment: dict[str, Any]) -> None:
    assert set(deployment) <= DEPLOYMENT_KEYS
    assert deployment["description"]
    assert set(deployment["work_pool"]) <= {"name", "work_queue_name", "job_variables"}
    assert deployment["work_pool"]["name"] == POOLS[deployment["name"]]
    for schedule in deployment.get("schedules", []):
        assert set(schedule) <= SCHEDULE_KEYS
        assert sum(k in schedule for k in ("cron", "interval", "rrule")) == 1
        assert schedule["slug"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=deployment_id)
def test_parameters_validate_against_the_flow_signature(deployment: dict[str, Any]) -> None:
    flow = flow_of(deployment["entrypoint"])
    parameters = dict(deployment.get("parameters", {}))
    if deployment_id(deployment) in ("teardown/dev", "teardown/dev-k8s"):
        # Deliberately left for the person running it to type; see the test below.
        parameters["confirm_cluster_name"] = parameters["spec"]["cluster_name"]
    validated = flow.validate_parameters(parameters)
    assert validated["spec"].cluster_name


def test_descriptions_are_distinct() -> None:
    descriptions = [d["description"] for d in DEPLOYMENTS]
    assert len(set(descriptions)) == len(descriptions)


def test_provision_and_teardown_never_run_twice_at_once() -> None:
    for deployment in DEPLOYMENTS:
        if deployment["entrypoint"].startswith(("flows/provision.py", "flows/teardown.py")):
            assert deployment["concurrency_limit"] == {
                "limit": 1,
                "collision_strategy": "CANCEL_NEW",
            }


def test_verify_deployments_are_scheduled_with_stable_slugs() -> None:
    verify = [d for d in DEPLOYMENTS if d["entrypoint"].startswith("flows/verify.py")]
    slugs = {s["slug"] for d in verify for s in d["schedules"]}
    assert slugs == {"verify-dev-every-30m", "verify-local-every-5m", "verify-dev-k8s-every-30m"}


def test_local_deployments_point_only_at_the_twin() -> None:
    for deployment in DEPLOYMENTS:
        env = deployment["work_pool"].get("job_variables", {}).get("env", {})
        if deployment["name"] == "local":
            assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        else:
            assert "AWS_ENDPOINT_URL" not in env  # real AWS: the operator's own credentials


@pytest.mark.parametrize("name", ["teardown/dev", "teardown/dev-k8s"])
def test_teardown_dev_requires_a_typed_confirmation(name: str) -> None:
    teardown_dev = next(d for d in DEPLOYMENTS if deployment_id(d) == name)
    assert "confirm_cluster_name" not in teardown_dev["parameters"]
    assert teardown_dev["parameters"]["require_approval"] is True


def test_kubernetes_deployments_run_the_code_in_the_image() -> None:
    for deployment in DEPLOYMENTS:
        pull = deployment.get("pull")
        if deployment["name"] == "dev-k8s":
            assert pull == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "/opt/kops-nlb-flows"
                    }
                }
            ]
        else:
            assert pull is None  # the top-level pull step: this checkout


@pytest.mark.parametrize(("name", "required"), [("dev", True), ("local", False)])
def test_provision_asks_for_approval_on_aws_only(name: str, required: bool) -> None:
    provision = next(d for d in DEPLOYMENTS if deployment_id(d) == f"provision/{name}")
    plan = next(d for d in DEPLOYMENTS if deployment_id(d) == f"plan/{name}")
    assert provision["parameters"]["require_approval"] is required
    assert plan["parameters"]["spec"] == provision["parameters"]["spec"]  # the same environment
