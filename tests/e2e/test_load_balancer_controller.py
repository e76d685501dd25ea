"""The AWS Load Balancer Controller's NLB with ip and with instance targets, on the twin.

The controller itself cannot be built here; the twin simulates it from its documentation
(``sandbox/cloud/lbc_naming.py``). With ip targets client IP preservation is off by default for
TCP, so nginx logs the NLB's own private addresses and verify fails naming them; asking for
``preserve_client_ip: true`` delivers the bastion's address, and so does proxy protocol v2
(``aws-load-balancer-proxy-protocol: "*"``) in its header. With instance targets (the
default) under ``Local`` the NLB reaches the node ports and the bastion's address is kept, as
with the cloud controller's NLB. Teardown removes the controller's NLB.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from flows.provision import provision
from flows.teardown import teardown
from flows.verify import verify
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.world import World
from tests.e2e.environments import torn_down

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def ip_targets(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    environment = spec.model_copy(
        update={
            "cluster_name": "lbc.k8s.local",
            "networking": "amazonvpc",
            "load_balancer_controller": "aws-load-balancer-controller",
            "target_type": "ip",
        }
    )
    with torn_down(environment):
        yield environment


@pytest.fixture(scope="module")
def instance_targets(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    environment = spec.model_copy(
        update={
            "cluster_name": "lbc-instance.k8s.local",
            "load_balancer_controller": "aws-load-balancer-controller",
            "target_type": "instance",
        }
    )
    with torn_down(environment):
        yield environment


def lbc_balancers(twin: World, cluster: str) -> list[dict[str, object]]:
    client = boto3.client("elbv2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    found = []
    for lb in client.describe_load_balancers()["LoadBalancers"]:
        tags = client.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"]
        if {"Key": "elbv2.k8s.aws/cluster", "Value": cluster} in tags[0]["Tags"]:
            found.append(lb)
    return found


def nlb_private_addresses(twin: World, lb: dict[str, object]) -> set[str]:
    ec2 = boto3.client("ec2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    description = "ELB " + str(lb["LoadBalancerArn"]).split(":loadbalancer/", 1)[1]
    return {
        i["PrivateIpAddress"]
        for i in ec2.describe_network_interfaces(
            Filters=[{"Name": "description", "Values": [description]}]
        )["NetworkInterfaces"]
    }


def test_ip_targets_lose_the_client_address_by_default_and_verify_names_the_nlb(
    twin: World, ip_targets: EnvironmentSpec
) -> None:
    provision(spec=ip_targets)
    [lb] = lbc_balancers(twin, ip_targets.cluster_name)
    assert str(lb["LoadBalancerName"]).startswith("k8s-default-nginx-")
    state = verify(spec=ip_targets, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert any(ip in message for ip in nlb_private_addresses(twin, lb))
    assert "the NLB's own private address" in message
    assert "(the default for ip targets)" in message


def test_ip_targets_with_client_ip_preservation_deliver_the_bastion(
    twin: World, ip_targets: EnvironmentSpec
) -> None:
    preserved = ip_targets.model_copy(update={"preserve_client_ip": True})
    provision(spec=preserved)
    result = verify(spec=preserved)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    groups = next(c for c in result.checks if c.name == "target_groups_deliver_client_ip")
    assert groups.passed and "ip targets with client IP preservation on" in groups.detail


def test_ip_targets_with_proxy_protocol_deliver_the_bastion_in_the_header(
    twin: World, ip_targets: EnvironmentSpec
) -> None:
    proxied = ip_targets.model_copy(update={"proxy_protocol_v2": True})
    provision(spec=proxied)
    result = verify(spec=proxied)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    groups = next(c for c in result.checks if c.name == "target_groups_deliver_client_ip")
    assert groups.passed and "proxy protocol v2 carries the client's address" in groups.detail


def test_teardown_removes_the_controllers_nlb(twin: World, ip_targets: EnvironmentSpec) -> None:
    result = teardown(
        spec=ip_targets,
        confirm_cluster_name=ip_targets.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert result.remaining == {}
    assert lbc_balancers(twin, ip_targets.cluster_name) == []


def test_instance_targets_under_local_deliver_the_bastion(
    twin: World, instance_targets: EnvironmentSpec
) -> None:
    provision(spec=instance_targets)
    [lb] = lbc_balancers(twin, instance_targets.cluster_name)
    result = verify(spec=instance_targets)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    groups = next(c for c in result.checks if c.name == "target_groups_deliver_client_ip")
    assert groups.passed and "instance targets preserve the client IP" in groups.detail
    elbv2 = boto3.client("elbv2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    [group] = elbv2.describe_target_groups(LoadBalancerArn=str(lb["LoadBalancerArn"]))[
        "TargetGroups"
    ]
    assert group["TargetType"] == "instance"


def test_teardown_removes_the_instance_targets_nlb(
    twin: World, instance_targets: EnvironmentSpec
) -> None:
    result = teardown(
        spec=instance_targets,
        confirm_cluster_name=instance_targets.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert result.remaining == {}
    assert lbc_balancers(twin, instance_targets.cluster_name) == []
