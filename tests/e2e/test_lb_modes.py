"""Load-balancer modes on the twin: each mode's expected address, and the drift that outlives
its annotation.

The cloud controller's NLB with instance targets and its target-group-attributes annotation:
with `preserve_client_ip: false` nginx logs the NLB's own private addresses and verify names
them; going back to the defaults removes the annotation, but the target group keeps the value
(as cloud-provider-aws does), and verify, which reads the target group, still fails; asking for
`preserve_client_ip: true` restores the client address.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

from flows.provision import provision
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.world import World
from tests.e2e.environments import core_api, torn_down

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]

TG_ATTRIBUTES = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"


@pytest.fixture(scope="module")
def modes(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """An environment for switching modes, torn down at the end."""
    environment = spec.model_copy(update={"cluster_name": "modes.k8s.local"})
    with torn_down(environment):
        yield environment


def nlb_addresses(twin: World, spec: EnvironmentSpec) -> set[str]:
    ec2 = boto3.client("ec2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    elbv2 = boto3.client("elbv2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    service = core_api(spec).read_namespaced_service(spec.service_name, spec.namespace)
    hostname = service.status.load_balancer.ingress[0].hostname
    lb = next(
        lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["DNSName"] == hostname
    )
    description = "ELB " + lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    interfaces = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [description]}]
    )["NetworkInterfaces"]
    return {i["PrivateIpAddress"] for i in interfaces}


def test_a_broken_mode_is_refused_before_any_write(twin: World, modes: EnvironmentSpec) -> None:
    before = twin.aws.write_counts()
    broken = {**modes.model_dump(mode="json"), "proxy_protocol_v2": True}
    state = provision(spec=broken, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="does not speak PROXY"):
        state.result()
    assert twin.aws.write_counts() - before == Counter()


def test_without_client_ip_preservation_verify_names_the_nlbs_addresses(
    twin: World, modes: EnvironmentSpec
) -> None:
    provision(spec=modes.model_copy(update={"preserve_client_ip": False}))
    state = verify(spec=modes, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    addresses = nlb_addresses(twin, modes)
    assert "client_ip_preserved" in message
    assert any(ip in message for ip in addresses)
    assert "the NLB's own private address" in message
    assert "target_groups_deliver_client_ip" in message
    assert "preserve_client_ip.enabled is false" in message


def test_the_attribute_outlives_its_annotation(modes: EnvironmentSpec) -> None:
    provision(spec=modes)  # the defaults: the annotation is removed
    service = core_api(modes).read_namespaced_service(modes.service_name, modes.namespace)
    assert TG_ATTRIBUTES not in (service.metadata.annotations or {})
    state = verify(spec=modes, return_state=True)
    assert state.is_failed()
    assert "preserve_client_ip.enabled is false" in (state.message or "")


def test_asking_for_preservation_restores_the_client_address(
    twin: World, modes: EnvironmentSpec
) -> None:
    provision(spec=modes.model_copy(update={"preserve_client_ip": True}))
    # provision waited for the target group's attribute; the data path follows it a moment
    # later (on AWS too, an attribute change takes a while to reach the NLB's nodes).
    deadline = time.monotonic() + 30
    while not all(plan.preserve_client_ip for plan in twin.nlb.plans()):
        assert time.monotonic() < deadline, "the data path never followed the attribute"
        time.sleep(0.2)
    result = verify(spec=modes)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    groups = next(c for c in result.checks if c.name == "target_groups_deliver_client_ip")
    assert groups.passed and "instance targets preserve the client IP" in groups.detail
