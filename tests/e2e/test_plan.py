"""plan → provision behind an approval → plan again → drift → plan names it, on the twin.

One environment of its own (``plan.k8s.local``, namespace ``plan``) goes through its life in
order: a plan of the empty world that writes nothing, a provision whose plan is rejected (nothing
is written) and one whose plan is approved, a plan with nothing to do, then one drift at a time
that the plan names exactly and provision repairs, and a teardown.

"Writes nothing" is counted at the twin: every AWS call it serves (mutating operations only:
not Describe/Get/List/Head/Simulate...), every Kubernetes API request that is not a GET, and
every kops command (none may carry ``--yes``, and ``create`` only with ``--dry-run``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from kubernetes import client, config
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
)
from prefect.flow_runs import resume_flow_run

from flows.plan import plan
from flows.provision import ProvisionResult, provision
from flows.teardown import teardown
from kops_nlb.core.naming import TAG_COMPONENT
from kops_nlb.core.plan import Plan
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kops import worker
from sandbox.world import World
from tests.e2e.prefect_runs import artifact, log_messages, paused_run

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

CLUSTER = "plan.k8s.local"
NAMESPACE = "plan"  # not the default one, so the plan has a namespace to create
READ_METHODS = {"GET", "HEAD"}


@pytest.fixture(scope="module")
def env(spec: EnvironmentSpec, twin: World) -> EnvironmentSpec:
    """This file's environment."""
    return spec.model_copy(
        update={
            "cluster_name": CLUSTER,
            "namespace": NAMESPACE,
        }
    )


def aws(service: str, world: World) -> Any:
    session: Any = boto3.session.Session(region_name=world.config.region)
    return session.client(service, endpoint_url=world.aws.url)


def kops_commands(world: World) -> list[list[str]]:
    log = Path(world.home) / "kops-argv.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


class Writes:
    """Counts of every write the twin served since it was made."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.aws = world.aws.write_counts()
        self.kube = self._kube_writes()
        self.kops = len(kops_commands(world))

    def _kube_writes(self) -> Counter[tuple[str, str]]:
        counts = self.world.api_proxy.call_counts
        return Counter({k: n for k, n in counts.items() if k[0] not in READ_METHODS})

    def since(self) -> dict[str, Any]:
        """Return the AWS and Kubernetes writes since, and the kops commands that could write."""
        commands = kops_commands(self.world)[self.kops :]
        writing = [
            argv
            for argv in commands
            if "--yes" in argv or (argv[:1] == ["create"] and "--dry-run" not in argv)
        ]
        return {
            "aws": self.world.aws.write_counts() - self.aws,
            "kube": self._kube_writes() - self.kube,
            "kops": writing,
            "kops_run": [" ".join(argv[:2]) for argv in commands],
        }


NO_WRITES = {"aws": Counter(), "kube": Counter(), "kops": []}


def no_writes(found: dict[str, Any]) -> bool:
    return {k: found[k] for k in NO_WRITES} == NO_WRITES


def settle(world: World, quiet: float = 1.0, limit: float = 30.0) -> None:
    """Wait until the twin's controllers have reacted to a drift: no AWS write for `quiet` s.

    The cloud controller reconciles every 0.2 s and answers a Service change with its own
    writes (ModifyTargetGroup); those are the drift's doing, not the plan's.
    """
    deadline = time.monotonic() + limit
    last = world.aws.write_counts()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = world.aws.write_counts()
        if now == last:
            return
        last = now
    raise AssertionError(f"the twin kept writing for {limit} s after the drift")


def in_thread(run: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: outcome.update(value=run()), daemon=True)
    runner.start()
    return runner, outcome


def to_do(result: Plan) -> dict[str, list[str]]:
    """Return each item with something to do, and the fields it would change."""
    return {i.step: [c.field for c in i.changes] for i in result.items if i.to_do}


def test_plan_of_the_empty_world_writes_nothing(twin: World, env: EnvironmentSpec) -> None:
    writes = Writes(twin)

    result = plan(spec=env)

    found = writes.since()
    assert no_writes(found), found
    assert "create cluster" in found["kops_run"]  # kops's own preview (--dry-run) was read
    assert {i.status for i in result.items} == {"will create"}
    assert [i.step for i in result.items] == [
        "state-store",
        "cluster",
        "nlb-permissions",
        "bastion-role",
        "bastion-security-group",
        "bastion-instance",
        "namespace",
        "nginx",
        "service",
        "nlb",
    ]
    report = artifact("plan-plan-k8s-local")
    assert "10 will create" in report
    assert "instance group control-plane-ap-northeast-1a: Master, t3.medium, min 1 / max 1" in (
        report
    )
    assert "USD per hour" in report and "t3.medium" in report
    assert not worker.kubeconfig_file(env.cluster_name).exists()


def test_a_wrong_zone_blocks_everything_and_writes_nothing(
    twin: World, env: EnvironmentSpec
) -> None:
    writes = Writes(twin)

    result = plan(spec=env.model_copy(update={"zones": ("ap-northeast-1z",)}))

    assert no_writes(writes.since()), writes.since()
    assert [p.name for p in result.preconditions if not p.ok] == ["zones"]
    assert {i.status for i in result.items} == {"blocked"}
    assert all("ap-northeast-1z (no such zone)" in i.reason for i in result.items)


def test_rejected_plan_creates_nothing(twin: World, env: EnvironmentSpec) -> None:
    writes = Writes(twin)
    runner, outcome = in_thread(
        lambda: provision(spec=env, require_approval=True, return_state=True)
    )

    resume_flow_run(paused_run(), run_input={"approve": False, "reason": "not this week"})
    runner.join(timeout=60)

    state = outcome["value"]
    assert state.is_cancelled()
    assert "rejected: not this week" in (state.message or "")
    found = writes.since()
    assert no_writes(found), found


def test_unanswered_approval_ends_the_run_with_nothing_written(
    twin: World, env: EnvironmentSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flows.provision.APPROVAL_TIMEOUT_S", 1)
    writes = Writes(twin)

    state = provision(spec=env, require_approval=True, return_state=True)

    assert state.is_failed()  # Prefect fails a run whose pause timed out
    assert "never resumed" in (state.message or "")
    found = writes.since()
    assert no_writes(found), found


def test_approved_plan_is_applied(twin: World, env: EnvironmentSpec) -> None:
    runner, outcome = in_thread(lambda: provision(spec=env, require_approval=True))

    resume_flow_run(paused_run(), run_input={"approve": True, "reason": "looks right"})
    runner.join(timeout=240)

    result = outcome["value"]
    assert isinstance(result, ProvisionResult)
    assert result.changed and result.cluster_name == CLUSTER


def test_plan_after_provision_has_nothing_to_do(twin: World, env: EnvironmentSpec) -> None:
    writes = Writes(twin)

    result = plan(spec=env)

    assert result.nothing_to_do, to_do(result)
    assert {i.status for i in result.items} == {"exists"}
    assert no_writes(writes.since()), writes.since()
    report = artifact("plan-plan-k8s-local")
    assert "**Nothing to do**" in report
    assert "kops update cluster: no changes need to be applied" in report


def test_nothing_to_do_needs_no_approval(twin: World, env: EnvironmentSpec) -> None:
    runner, outcome = in_thread(lambda: provision(spec=env, require_approval=True))
    runner.join(timeout=240)  # it would wait an hour for an answer if it paused

    assert not runner.is_alive(), "provision paused although the plan had nothing to do"
    assert not outcome["value"].changed


def _bucket(twin: World, env: EnvironmentSpec) -> str:
    return env.bucket_for(aws("sts", twin).get_caller_identity()["Account"])


def drop_component_tag(twin: World, env: EnvironmentSpec) -> None:
    s3, bucket = aws("s3", twin), _bucket(twin, env)
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    kept = [t for t in tags if t["Key"] != TAG_COMPONENT]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": kept})


def suspend_versioning(twin: World, env: EnvironmentSpec) -> None:
    aws("s3", twin).put_bucket_versioning(
        Bucket=_bucket(twin, env), VersioningConfiguration={"Status": "Suspended"}
    )


def _apps_core(env: EnvironmentSpec) -> tuple[Any, Any]:
    api = config.new_client_from_config(config_file=str(worker.kubeconfig_file(env.cluster_name)))
    return client.AppsV1Api(api), client.CoreV1Api(api)


def service_to_cluster(twin: World, env: EnvironmentSpec) -> None:
    _, core = _apps_core(env)
    core.patch_namespaced_service(
        env.service_name, env.namespace, {"spec": {"externalTrafficPolicy": "Cluster"}}
    )


def older_image(twin: World, env: EnvironmentSpec) -> None:
    apps, _ = _apps_core(env)
    ports = [{"containerPort": env.container_port, "protocol": "TCP"}]
    container = {"name": "nginx", "image": "nginx:1.25", "ports": ports}
    apps.patch_namespaced_deployment(
        env.deployment_name,
        env.namespace,
        {"spec": {"template": {"spec": {"containers": [container]}}}},
    )


DRIFTS = [
    pytest.param(
        drop_component_tag,
        {"state-store": [f"tag {TAG_COMPONENT}"]},
        f"`tag {TAG_COMPONENT}`: (none) → **state-store**",
        id="bucket-tag-removed",
    ),
    pytest.param(
        suspend_versioning,
        {"state-store": ["versioning"]},
        "`versioning`: Suspended → **Enabled**",
        id="versioning-suspended",
    ),
    pytest.param(
        service_to_cluster,
        {"service": ["spec.externalTrafficPolicy"]},
        "`spec.externalTrafficPolicy`: Cluster → **Local**",
        id="service-cluster-policy",
    ),
    pytest.param(
        older_image,
        {"nginx": ["image"]},
        "`image`: nginx:1.25 → **nginx:1.27**",
        id="nginx-image",
    ),
]


@pytest.mark.parametrize(("drift", "named", "line"), DRIFTS)
def test_plan_names_each_drift_and_provision_repairs_it(
    twin: World,
    env: EnvironmentSpec,
    drift: Callable[[World, EnvironmentSpec], None],
    named: dict[str, list[str]],
    line: str,
) -> None:
    drift(twin, env)
    settle(twin)
    writes = Writes(twin)

    result = plan(spec=env)

    assert to_do(result) == named
    assert no_writes(writes.since()), writes.since()
    assert line in artifact("plan-plan-k8s-local")

    repaired = provision(spec=env)

    assert [s.step for s in repaired.steps if s.changed] == list(named)
    assert plan(spec=env).nothing_to_do


def test_plans_show_no_secret(env: EnvironmentSpec) -> None:
    user = yaml.safe_load(worker.kubeconfig_file(env.cluster_name).read_text())["users"][0]["user"]
    secrets = [os.environ["AWS_SECRET_ACCESS_KEY"], user["client-key-data"][:40]]
    with get_client(sync_client=True) as prefect:
        by_key = ArtifactFilter(key=ArtifactFilterKey(any_=["plan-plan-k8s-local"]))
        plans = [str(a.data) for a in prefect.read_artifacts(artifact_filter=by_key, limit=200)]
    messages = log_messages()
    assert len(plans) > 5 and messages
    for secret in secrets:
        assert not any(secret in text for text in plans)
        assert not any(secret in message for message in messages)


@pytest.fixture(scope="module", autouse=True)
def torn_down(env: EnvironmentSpec) -> Iterator[None]:
    """Remove this file's environment after its tests, whatever they left."""
    yield
    teardown(
        spec=env,
        confirm_cluster_name=CLUSTER,
        require_approval=False,
        delete_state_bucket=True,
        return_state=True,
    )
