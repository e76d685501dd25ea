"""In-cluster clients on the twin: a Job on a target node and one on the control-plane node.

The Job on a worker (a target of the NLB, with client IP preservation) reaches the NLB's address
in its own zone and times out: the NLB sends the connection back to that same node, which AWS
drops (hairpin). The Job on the control-plane node (excluded from load balancers) gets an answer
and nginx logs the control-plane node's own address. Verify reports both, passes, and leaves no
Job or pod of the probe behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from flows.provision import provision
from flows.verify import VerifyResult, verify
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.in_cluster_job import RUN_LABEL
from sandbox.world import World
from tests.e2e.environments import api_client, torn_down
from tests.e2e.prefect_runs import artifact

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


@pytest.fixture(scope="module")
def inside(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """An environment provisioned once for the in-cluster probe, torn down at the end."""
    environment = spec.model_copy(update={"cluster_name": "inside.k8s.local"})
    with torn_down(environment):
        provision(spec=environment)
        yield environment


def node_addresses(spec: EnvironmentSpec) -> dict[str, tuple[str, bool]]:
    """Each node's InternalIP and whether it is a control-plane node."""
    nodes = client.CoreV1Api(api_client(spec)).list_node().items
    return {
        n.metadata.name: (
            next(a.address for a in n.status.addresses if a.type == "InternalIP"),
            CONTROL_PLANE_LABEL in (n.metadata.labels or {}),
        )
        for n in nodes
    }


def probe_objects(spec: EnvironmentSpec) -> tuple[list[str], list[str]]:
    """The probe's Jobs and pods still in the namespace."""
    api = api_client(spec)
    jobs = client.BatchV1Api(api).list_namespaced_job(spec.namespace, label_selector=RUN_LABEL)
    pods = client.CoreV1Api(api).list_namespaced_pod(spec.namespace, label_selector=RUN_LABEL)
    return [j.metadata.name for j in jobs.items], [p.metadata.name for p in pods.items]


@pytest.fixture(scope="module")
def result(inside: EnvironmentSpec) -> VerifyResult:
    outcome = verify(spec=inside, in_cluster_probe=True)
    assert isinstance(outcome, VerifyResult)
    return outcome


def test_the_attempt_from_a_target_node_times_out_as_aws_documents(
    twin: World, inside: EnvironmentSpec, result: VerifyResult
) -> None:
    nodes = node_addresses(inside)
    target = next(f for f in result.in_cluster if f.kind == "target")
    assert target.node in nodes and not nodes[target.node][1]  # a worker
    assert target.node_ip == nodes[target.node][0]
    assert target.outcome == "timed out"
    assert target.logged_addresses == ()  # nginx never saw it
    assert target.expected
    assert "hairpin" in target.detail
    # The NLB's data path took the connection from the node's own address and dropped it
    # because it chose that same node as the target.
    hairpins = [
        f
        for f in twin.nlb.flows()
        if f.outcome == "hairpin" and f.listener[0] == target.nlb_address
    ]
    assert hairpins
    assert {(f.client[0], f.target) for f in hairpins} == {(target.node_ip, target.node)}


def test_the_attempt_from_a_node_that_is_no_target_reaches_nginx_from_its_own_address(
    inside: EnvironmentSpec, result: VerifyResult
) -> None:
    nodes = node_addresses(inside)
    outsider = next(f for f in result.in_cluster if f.kind == "non-target")
    assert nodes[outsider.node][1]  # the control-plane node, excluded from load balancers
    assert outsider.outcome == "answered"
    assert outsider.http_code == 200
    assert outsider.logged_addresses == (nodes[outsider.node][0],)
    assert outsider.expected


def test_verify_passes_and_reports_the_in_cluster_clients(
    inside: EnvironmentSpec, result: VerifyResult
) -> None:
    assert result.passed
    assert set(result.client_addresses) == {result.bastion_private_ip}  # main check untouched
    check = next(c for c in result.checks if c.name == "in_cluster_clients")
    assert check.passed
    report = artifact("verify-in-cluster-inside-k8s-local")
    assert "In-cluster clients" in report
    assert "timed out" in report and "answered 200" in report


def test_no_job_or_pod_of_the_probe_is_left(inside: EnvironmentSpec, result: VerifyResult) -> None:
    deadline = time.monotonic() + 30
    left = probe_objects(inside)
    while left != ([], []) and time.monotonic() < deadline:
        time.sleep(0.5)
        left = probe_objects(inside)
    assert left == ([], [])


def test_without_the_option_verify_runs_no_job(inside: EnvironmentSpec) -> None:
    outcome = verify(spec=inside)
    assert isinstance(outcome, VerifyResult)
    assert outcome.in_cluster == []
    assert all(c.name != "in_cluster_clients" for c in outcome.checks)
    assert probe_objects(inside) == ([], [])
