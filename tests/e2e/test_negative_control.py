"""The negative control on the twin: a canary Service under `Cluster` beside the main one.

Provision makes the canary and its NLB; verify passes only while the main Service shows the
bastion's address and the canary node addresses; switching every LoadBalancer Service to
`Local` fails the control, switching them to `Cluster` fails the main check; teardown removes
the canary and its NLB.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from kubernetes import client

from flows.provision import provision
from flows.teardown import teardown
from flows.verify import VerifyResult, verify
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.world import World
from tests.e2e.environments import core_api, torn_down
from tests.e2e.prefect_runs import artifact

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def controlled(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """An environment with the negative control, provisioned once and torn down at the end."""
    with_control = spec.model_copy(
        update={"cluster_name": "control.k8s.local", "negative_control": True}
    )
    with torn_down(with_control):
        provision(spec=with_control)
        yield with_control


def set_every_policy(spec: EnvironmentSpec, policy: str) -> None:
    """Switch every LoadBalancer Service of the namespace, the canary included."""
    api = core_api(spec)
    for service in api.list_namespaced_service(spec.namespace).items:
        if service.spec.type == "LoadBalancer":
            api.patch_namespaced_service(
                service.metadata.name,
                spec.namespace,
                {"spec": {"externalTrafficPolicy": policy}},
            )


def node_ips(twin: World) -> set[str]:
    return {
        a.address
        for n in client.CoreV1Api(twin.kube_api()).list_node().items
        for a in n.status.addresses
        if a.type == "InternalIP"
    }


def test_provision_makes_the_canary_with_its_own_nlb(
    twin: World, controlled: EnvironmentSpec
) -> None:
    canary = core_api(controlled).read_namespaced_service("nginx-canary", controlled.namespace)
    main = core_api(controlled).read_namespaced_service("nginx", controlled.namespace)
    assert canary.spec.external_traffic_policy == "Cluster"
    assert canary.spec.selector == main.spec.selector
    hostnames = {s.status.load_balancer.ingress[0].hostname for s in (canary, main)}
    assert len(hostnames) == 2  # two NLBs


def test_verify_passes_with_the_bastion_on_main_and_nodes_on_the_canary(
    twin: World, controlled: EnvironmentSpec
) -> None:
    result = verify(spec=controlled)
    assert isinstance(result, VerifyResult)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    assert result.canary_addresses and set(result.canary_addresses) <= node_ips(twin)
    control = next(c for c in result.checks if c.name == "negative_control")
    assert control.passed and "nginx-canary" in control.detail
    assert "Negative control" in artifact("verify-evidence-control-k8s-local")


def test_every_service_under_local_fails_on_the_negative_control(
    controlled: EnvironmentSpec,
) -> None:
    set_every_policy(controlled, "Local")
    state = verify(spec=controlled, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert "negative_control" in message
    assert "the probe cannot tell the policies apart" in message
    assert "client_ip_preserved" not in message


def test_every_service_under_cluster_fails_on_the_main_check(
    twin: World, controlled: EnvironmentSpec
) -> None:
    set_every_policy(controlled, "Cluster")
    state = verify(spec=controlled, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert "client_ip_preserved" in message
    assert "negative_control" not in message
    assert any(ip in message for ip in node_ips(twin))


def test_restoring_the_policies_passes_again(controlled: EnvironmentSpec) -> None:
    set_every_policy(controlled, "Local")
    core_api(controlled).patch_namespaced_service(
        "nginx-canary", controlled.namespace, {"spec": {"externalTrafficPolicy": "Cluster"}}
    )
    assert verify(spec=controlled).passed


def test_teardown_removes_the_canary_and_its_nlb(twin: World, controlled: EnvironmentSpec) -> None:
    result = teardown(
        spec=controlled,
        confirm_cluster_name=controlled.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert result.remaining == {}
    elbv2 = boto3.client("elbv2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    tagged = elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else []
    cluster_key = f"kubernetes.io/cluster/{controlled.cluster_name}"
    assert [t for t in tagged if any(tag["Key"] == cluster_key for tag in t["Tags"])] == []
