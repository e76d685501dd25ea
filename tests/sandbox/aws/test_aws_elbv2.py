"""ELBv2 gaps through boto3 over HTTP: NLB shape and interfaces, idempotency, target health."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.aws import AwsServer, set_target_health_provider

ClientFactory = Callable[..., Any]
Launch = Callable[..., dict[str, Any]]

NLB_ARN = re.compile(
    r"^arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:"
    r"loadbalancer/net/(?P<name>[a-z0-9-]+)/(?P<id>[0-9a-f]{16})$"
)


def create_nlb(elbv2: Any, network: Any, *, name: str = "a1b2c3", **extra: Any) -> dict[str, Any]:
    """Create an internal network LB over both subnets (unless told otherwise)."""
    params: dict[str, Any] = {
        "Name": name,
        "Type": "network",
        "Scheme": "internal",
        "Subnets": list(network.subnet_ids),
        **extra,
    }
    if "SubnetMappings" in params:
        del params["Subnets"]
    return dict(elbv2.create_load_balancer(**params)["LoadBalancers"][0])


def create_tcp_target_group(elbv2: Any, network: Any, name: str = "k8s-default-nginx") -> str:
    """Create the target group the CCM makes for externalTrafficPolicy: Local."""
    response = elbv2.create_target_group(
        Name=name,
        Protocol="TCP",
        Port=30080,
        VpcId=network.vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/healthz",
        HealthCheckPort="31080",
        Tags=[{"Key": "KubernetesCluster", "Value": "demo.k8s.local"}],
    )
    return str(response["TargetGroups"][0]["TargetGroupArn"])


def nlb_interfaces(ec2: Any, lb: dict[str, Any]) -> list[dict[str, Any]]:
    """The NLB's network interfaces, found the way the reference notes say."""
    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[-1]
    description = f"ELB net/{lb['LoadBalancerName']}/{lb_id}"
    response = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [description]}]
    )
    return list(response["NetworkInterfaces"])


@pytest.mark.parametrize("scheme", ["internal", "internet-facing"])
def test_network_lb_has_the_real_arn_and_dns_shape(
    client: ClientFactory, network: Any, scheme: str
) -> None:
    lb = create_nlb(client("elbv2"), network, name="a0123456789abcdef0123456789abcd", Scheme=scheme)

    match = NLB_ARN.match(lb["LoadBalancerArn"])
    assert match is not None, lb["LoadBalancerArn"]
    assert match["name"] == "a0123456789abcdef0123456789abcd"
    assert lb["DNSName"] == (
        f"a0123456789abcdef0123456789abcd-{match['id']}.elb.ap-northeast-1.amazonaws.com"
    )
    assert (lb["Type"], lb["Scheme"]) == ("network", scheme)


def test_application_lb_keeps_moto_shape(client: ClientFactory, network: Any) -> None:
    lb = client("elbv2").create_load_balancer(Name="web", Subnets=list(network.subnet_ids))

    assert ":loadbalancer/app/web/" in lb["LoadBalancers"][0]["LoadBalancerArn"]


def test_network_lb_has_one_interface_per_subnet(
    client: ClientFactory, network: Any, launch: Launch
) -> None:
    instance_ip = launch()["PrivateIpAddress"]
    lb = create_nlb(client("elbv2"), network)

    interfaces = nlb_interfaces(client("ec2"), lb)

    assert sorted(i["SubnetId"] for i in interfaces) == sorted(network.subnet_ids)
    zones = {i["SubnetId"]: i["AvailabilityZone"] for i in interfaces}
    assert zones == dict(
        zip(network.subnet_ids, ["ap-northeast-1a", "ap-northeast-1c"], strict=True)
    )
    for interface in interfaces:
        assert interface["InterfaceType"] == "network_load_balancer"
        assert interface["RequesterManaged"] is True
        assert interface["Status"] == "in-use"
        address = ipaddress.ip_address(interface["PrivateIpAddress"])
        cidr = network.cidrs[network.subnet_ids.index(interface["SubnetId"])]
        assert address in ipaddress.ip_network(cidr)
        assert address.is_loopback
    addresses = [i["PrivateIpAddress"] for i in interfaces]
    assert instance_ip not in addresses
    assert len(set(addresses)) == 2


def test_subnet_mapping_private_address_is_used(client: ClientFactory, network: Any) -> None:
    lb = create_nlb(
        client("elbv2"),
        network,
        SubnetMappings=[{"SubnetId": network.subnet_ids[0], "PrivateIPv4Address": "127.20.1.50"}],
    )

    (interface,) = nlb_interfaces(client("ec2"), lb)
    assert interface["PrivateIpAddress"] == "127.20.1.50"


def test_deleting_the_lb_deletes_its_interfaces_and_detaches_target_groups(
    client: ClientFactory, network: Any
) -> None:
    elbv2, ec2 = client("elbv2"), client("ec2")
    lb = create_nlb(elbv2, network)
    tg_arn = create_tcp_target_group(elbv2, network)
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )

    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])

    assert nlb_interfaces(ec2, lb) == []
    (tg,) = elbv2.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"]
    assert tg.get("LoadBalancerArns", []) == []
    elbv2.delete_target_group(TargetGroupArn=tg_arn)


def test_create_load_balancer_is_idempotent_for_the_same_settings(
    client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    first = create_nlb(elbv2, network)

    again = create_nlb(elbv2, network)
    with pytest.raises(ClientError) as err:
        create_nlb(elbv2, network, Scheme="internet-facing")

    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    assert len(elbv2.describe_load_balancers()["LoadBalancers"]) == 1
    assert len(nlb_interfaces(client("ec2"), first)) == 2
    assert err.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"


def test_create_target_group_is_idempotent_for_the_same_settings(
    client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    first = create_tcp_target_group(elbv2, network)

    again = create_tcp_target_group(elbv2, network)
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(
            Name="k8s-default-nginx", Protocol="TCP", Port=31999, VpcId=network.vpc_id
        )

    assert again == first
    assert err.value.response["Error"]["Code"] == "DuplicateTargetGroupName"


def test_target_groups_of_a_lb_without_any_is_an_empty_list(
    client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    lb = create_nlb(elbv2, network)

    response = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])

    assert response["TargetGroups"] == []


def test_ccm_style_target_group_with_listener_tags_and_nlb_attributes(
    client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    lb = create_nlb(elbv2, network, Tags=[{"Key": "KubernetesCluster", "Value": "demo.k8s.local"}])
    tg_arn = create_tcp_target_group(elbv2, network)
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )

    (tg,) = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"], tg_arn])["TagDescriptions"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]
    }

    assert (tg["Protocol"], tg["TargetType"], tg["HealthCheckProtocol"]) == (
        "TCP",
        "instance",
        "HTTP",
    )
    assert (tg["HealthCheckPath"], tg["HealthCheckPort"]) == ("/healthz", "31080")
    assert [t["Tags"] for t in tags] == [
        [{"Key": "KubernetesCluster", "Value": "demo.k8s.local"}]
    ] * 2
    assert attributes["preserve_client_ip.enabled"] == "true"
    assert attributes["proxy_protocol_v2.enabled"] == "false"


def test_target_health_comes_from_the_provider(
    client: ClientFactory, network: Any, launch: Launch
) -> None:
    elbv2 = client("elbv2")
    tg_arn = create_tcp_target_group(elbv2, network)
    with_pod, without_pod = launch()["InstanceId"], launch()["InstanceId"]
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": with_pod}, {"Id": without_pod}])
    asked: list[tuple[str, str, int]] = []

    def provider(tg: str, instance_id: str, port: int) -> tuple[str, str | None, str | None]:
        asked.append((tg, instance_id, port))
        if instance_id == with_pod:
            return ("healthy", None, None)
        return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")

    default = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    set_target_health_provider(provider)
    answered = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]

    assert {d["TargetHealth"]["State"] for d in default} == {"healthy"}
    states = {d["Target"]["Id"]: d["TargetHealth"] for d in answered}
    assert states[with_pod] == {"State": "healthy"}
    assert states[without_pod] == {
        "State": "unhealthy",
        "Reason": "Target.FailedHealthChecks",
        "Description": "Health checks failed",
    }
    assert sorted(asked) == sorted([(tg_arn, with_pod, 30080), (tg_arn, without_pod, 30080)])


def test_load_balancer_stays_provisioning_for_the_given_time(
    aws: AwsServer, client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    lb = create_nlb(elbv2, network)
    other = create_nlb(elbv2, network, name="other")

    aws.activate_load_balancer_after(lb["LoadBalancerArn"], 0.5)
    started = time.monotonic()

    def state(arn: str) -> str:
        found = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        return str(found[0]["State"]["Code"])

    assert state(lb["LoadBalancerArn"]) == "provisioning"
    assert state(other["LoadBalancerArn"]) == "active"
    while state(lb["LoadBalancerArn"]) == "provisioning":
        assert time.monotonic() - started < 5
        time.sleep(0.05)
    assert time.monotonic() - started >= 0.5


def test_every_new_nlb_provisions_for_the_servers_delay(
    aws: AwsServer, client: ClientFactory, network: Any
) -> None:
    """Gap 11: whoever creates the NLB (a real controller over HTTP, kops), it is not active at
    once; an ALB is not held."""
    elbv2 = client("elbv2")
    aws.set_nlb_provisioning_seconds(30)
    try:
        held = create_nlb(elbv2, network, name="held")
    finally:
        aws.set_nlb_provisioning_seconds(0)
    after = create_nlb(elbv2, network, name="after")

    def state(lb: dict[str, Any]) -> str:
        found = elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])
        return str(found["LoadBalancers"][0]["State"]["Code"])

    assert state(held) == "provisioning"
    assert state(after) == "active"


def test_a_listener_moved_to_another_group_takes_the_group_with_it(
    client: ClientFactory, network: Any
) -> None:
    """Gap 26: the cloud controller swaps a listener's group when the health check changes."""
    elbv2 = client("elbv2")
    lb_arn = create_nlb(elbv2, network)["LoadBalancerArn"]
    first = create_tcp_target_group(elbv2, network, name="first")
    listener = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": first}],
    )["Listeners"][0]["ListenerArn"]
    second = create_tcp_target_group(elbv2, network, name="second")

    elbv2.modify_listener(
        ListenerArn=listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": second}]
    )

    groups = elbv2.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
    assert [g["TargetGroupArn"] for g in groups] == [second]
    [left] = elbv2.describe_target_groups(TargetGroupArns=[first])["TargetGroups"]
    assert left["LoadBalancerArns"] == []
    elbv2.delete_target_group(TargetGroupArn=first)  # nobody's now: AWS lets it go


def test_a_target_group_name_may_hold_a_double_hyphen(client: ClientFactory, network: Any) -> None:
    """Gap 20: kops names its kops-controller group `kops-controller-<cluster>--<hash>`."""
    elbv2 = client("elbv2")
    name = "kops-controller-nlb-demo--p5103e"
    tg = elbv2.create_target_group(Name=name, Protocol="TCP", Port=3988, VpcId=network.vpc_id)[
        "TargetGroups"
    ][0]
    assert tg["TargetGroupName"] == name
    assert f":targetgroup/{name}/" in tg["TargetGroupArn"]
    [found] = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    assert found["TargetGroupArn"] == tg["TargetGroupArn"]
    elbv2.add_tags(ResourceArns=[tg["TargetGroupArn"]], Tags=[{"Key": "k", "Value": "v"}])
    [tags] = elbv2.describe_tags(ResourceArns=[tg["TargetGroupArn"]])["TagDescriptions"]
    assert tags["Tags"] == [{"Key": "k", "Value": "v"}]
    again = elbv2.create_target_group(Name=name, Protocol="TCP", Port=3988, VpcId=network.vpc_id)
    assert again["TargetGroups"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    with pytest.raises(ClientError) as raised:
        elbv2.create_target_group(Name=name, Protocol="TCP", Port=4000, VpcId=network.vpc_id)
    assert raised.value.response["Error"]["Code"] == "DuplicateTargetGroupName"
