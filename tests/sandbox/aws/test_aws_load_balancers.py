"""What the data path reads of each NLB: interfaces, listeners, the group's targets and
attributes, tags and whether it is active, as configured through the API."""

from __future__ import annotations

from typing import Any

from conftest import REGION, ClientFactory
from test_aws_ec2 import Launch
from test_aws_elbv2 import create_nlb, create_tcp_target_group, nlb_interfaces

from sandbox.aws import AwsServer
from sandbox.aws.load_balancers import configured_balancers
from sandbox.aws.target_groups import instance_cluster
from sandbox.cloud.api_endpoints import api_route


def test_an_nlb_reads_back_as_configured_through_the_api(
    aws: AwsServer, client: ClientFactory, network: Any, launch: Launch
) -> None:
    elbv2, ec2 = client("elbv2"), client("ec2")
    lb = create_nlb(elbv2, network, Tags=[{"Key": "kubernetes.io/service-name", "Value": "a/b"}])
    lb_arn = lb["LoadBalancerArn"]
    group = create_tcp_target_group(elbv2, network)
    elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    instance = launch()
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance["InstanceId"]}])
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group, Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}]
    )
    aws.activate_load_balancer_after(lb_arn, 60)

    [balancer] = configured_balancers(REGION)

    assert (balancer.arn, balancer.dns_name) == (lb_arn, lb["DNSName"])
    assert balancer.tags == {"kubernetes.io/service-name": "a/b"}
    assert not balancer.active  # still provisioning
    assert balancer.interfaces == tuple(
        sorted((i["PrivateIpAddress"], i["AvailabilityZone"]) for i in nlb_interfaces(ec2, lb))
    )
    assert {zone for _ip, zone in balancer.interfaces} == {f"{REGION}a", f"{REGION}c"}
    [(port, forwarded)] = balancer.listeners
    assert (port, forwarded.arn, forwarded.target_type) == (80, group, "instance")
    assert forwarded.targets == ((instance["InstanceId"], 30080),)  # the group's port
    assert forwarded.attributes["proxy_protocol_v2.enabled"] == "true"
    assert not balancer.cross_zone

    aws.activate_load_balancer_after(lb_arn, 0)
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
    )
    [balancer] = configured_balancers(REGION)
    assert balancer.active and balancer.cross_zone


def test_an_instance_tells_its_kops_cluster(client: ClientFactory, launch: Launch) -> None:
    tagged = launch(
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "KubernetesCluster", "Value": "x.k8s.local"}],
            }
        ]
    )
    assert instance_cluster(tagged["InstanceId"], region=REGION) == "x.k8s.local"
    assert instance_cluster(launch()["InstanceId"], region=REGION) is None
    assert instance_cluster("i-0000000000000000f", region=REGION) is None


def test_only_an_active_api_load_balancer_leads_to_the_front_proxy(
    aws: AwsServer, client: ClientFactory, network: Any
) -> None:
    elbv2 = client("elbv2")
    cluster = "x.k8s.local"
    owner = {"Key": "KubernetesCluster", "Value": cluster}
    api = create_nlb(
        elbv2, network, name="api-x", Tags=[{"Key": "Name", "Value": f"api.{cluster}"}, owner]
    )
    service = create_nlb(elbv2, network, name="a1b2", Tags=[owner])  # a Service's NLB
    for lb in (api, service):
        group = create_tcp_target_group(elbv2, network, name=f"{lb['LoadBalancerName']}-tg")
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="TCP",
            Port=443,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )
    front = ("127.0.0.1", 6443)
    running = {cluster}
    route = api_route(REGION, front=lambda: front, serves=running.__contains__)

    assert route(api["DNSName"], 443) == front
    assert route(api["DNSName"].upper(), 443) == front  # DNS names know no case
    assert route(api["DNSName"], 80) is None  # no listener there
    assert route(service["DNSName"], 443) is None  # not the API
    assert route("example.com", 443) is None
    running.clear()  # the control plane is down: the balancer has no healthy target
    assert route(api["DNSName"], 443) is None
    running.add(cluster)
    aws.activate_load_balancer_after(api["LoadBalancerArn"], 60)  # still provisioning
    assert route(api["DNSName"], 443) is None
