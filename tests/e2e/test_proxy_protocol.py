"""Proxy protocol v2 on the twin: the NLB sends the client's address in a PROXY header and the
nginx pods, configured by the product's ConfigMap, log it as ``$proxy_protocol_addr``.

Under ``Cluster`` (which proxy protocol with instance targets needs) kube-proxy SNATs every
connection to a node, so only the header can carry the bastion's address to the log. Turning the
option off in the spec removes nginx's PROXY listener but not the target group's attribute (it
outlives its annotation): nginx answers the header with 400 and verify says why. Turning it on
again passes; teardown leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from flows.provision import provision
from flows.teardown import teardown
from flows.verify import verify
from kops_nlb.core.nginx_config import config_map_name
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.world import World
from tests.e2e.environments import core_api, torn_down

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def proxied(twin: World, spec: EnvironmentSpec) -> Iterator[EnvironmentSpec]:
    """An environment whose NLB sends PROXY v2 headers, torn down at the end."""
    environment = spec.model_copy(
        update={
            "cluster_name": "proxy.k8s.local",
            "proxy_protocol_v2": True,
            "external_traffic_policy": "Cluster",
            "negative_control": False,
        }
    )
    with torn_down(environment):
        yield environment


def cluster_balancers(twin: World, cluster: str) -> list[str]:
    elbv2 = boto3.client("elbv2", endpoint_url=twin.aws.url, region_name=twin.config.region)
    arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    tagged = elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else []
    key = f"kubernetes.io/cluster/{cluster}"
    return [t["ResourceArn"] for t in tagged if any(tag["Key"] == key for tag in t["Tags"])]


def test_nginx_logs_the_bastion_from_the_proxy_header(proxied: EnvironmentSpec) -> None:
    provision(spec=proxied)
    site = core_api(proxied).read_namespaced_config_map(config_map_name(proxied), "default")
    assert "$proxy_protocol_addr" in site.data["default.conf"]
    result = verify(spec=proxied)
    assert set(result.client_addresses) == {result.bastion_private_ip}
    groups = next(c for c in result.checks if c.name == "target_groups_deliver_client_ip")
    assert groups.passed and "proxy protocol v2 carries the client's address" in groups.detail


def test_a_target_group_sending_proxy_to_a_plain_nginx_fails_verify(
    proxied: EnvironmentSpec,
) -> None:
    plain = proxied.model_copy(update={"proxy_protocol_v2": False})
    provision(spec=plain)
    state = verify(spec=plain, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert "target_groups_deliver_client_ip" in message
    assert "sends a PROXY v2 header (proxy_protocol_v2.enabled is true)" in message
    assert "nginx is not configured for proxy protocol" in message
    assert "probes_answered_ok" in message and "400" in message


def test_turning_proxy_protocol_on_again_passes(proxied: EnvironmentSpec) -> None:
    provision(spec=proxied)
    result = verify(spec=proxied)
    assert set(result.client_addresses) == {result.bastion_private_ip}


def test_teardown_removes_the_nlb_and_the_site(twin: World, proxied: EnvironmentSpec) -> None:
    result = teardown(
        spec=proxied,
        confirm_cluster_name=proxied.cluster_name,
        require_approval=False,
        delete_state_bucket=True,
    )
    assert result.remaining == {}
    assert cluster_balancers(twin, proxied.cluster_name) == []
