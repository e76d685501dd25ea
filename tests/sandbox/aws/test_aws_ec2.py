"""EC2 through boto3 over HTTP: ClientToken idempotency, loopback networks, lookups."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ClientFactory = Callable[..., Any]
Launch = Callable[..., dict[str, Any]]


def instance_ids(ec2: Any, **filters: Any) -> list[str]:
    """Every instance id, optionally filtered."""
    reservations = ec2.describe_instances(**filters)["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def test_client_token_returns_the_same_instance(client: ClientFactory, launch: Launch) -> None:
    first = launch(ClientToken="bastion-demo")

    again = launch(ClientToken="bastion-demo")

    assert again["InstanceId"] == first["InstanceId"]
    assert instance_ids(client("ec2")) == [first["InstanceId"]]


def test_client_token_with_other_parameters_is_a_mismatch(launch: Launch) -> None:
    launch(ClientToken="bastion-demo")

    with pytest.raises(ClientError) as err:
        launch(ClientToken="bastion-demo", InstanceType="t3.large")

    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_client_token_of_a_terminated_instance_returns_it(
    client: ClientFactory, launch: Launch
) -> None:
    first = launch(ClientToken="bastion-demo")
    client("ec2").terminate_instances(InstanceIds=[first["InstanceId"]])

    again = launch(ClientToken="bastion-demo")

    assert again["InstanceId"] == first["InstanceId"]
    (reservation,) = client("ec2").describe_instances()["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"


def test_without_a_client_token_each_call_launches(client: ClientFactory, launch: Launch) -> None:
    launch()
    launch()

    assert len(instance_ids(client("ec2"))) == 2


def test_instances_take_unique_loopback_addresses_of_their_subnet(
    client: ClientFactory, network: Any, launch: Launch
) -> None:
    addresses = [launch()["PrivateIpAddress"] for _ in range(3)]

    subnet = ipaddress.ip_network(network.cidrs[0])
    assert len(set(addresses)) == 3
    for address in map(ipaddress.ip_address, addresses):
        assert address in subnet and address.is_loopback
        assert address not in (subnet.network_address, subnet.broadcast_address)


def test_describe_instances_filters_by_tag(client: ClientFactory, launch: Launch) -> None:
    tagged = launch(
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "bastion"}]}
        ]
    )["InstanceId"]
    launch()

    found = instance_ids(client("ec2"), Filters=[{"Name": "tag:Name", "Values": ["bastion"]}])

    assert found == [tagged]


def test_instance_keeps_its_instance_profile(
    client: ClientFactory, launch: Launch, ssm_profile: str
) -> None:
    instance_id = launch(profile=ssm_profile)["InstanceId"]

    (reservation,) = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]

    profile_arn = reservation["Instances"][0]["IamInstanceProfile"]["Arn"]
    assert profile_arn == "arn:aws:iam::123456789012:instance-profile/bastion"


def test_region_and_zones(client: ClientFactory) -> None:
    ec2 = client("ec2")

    regions = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]

    assert "ap-northeast-1" in regions
    assert zones == ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]


def test_al2023_parameter_names_a_known_image(client: ClientFactory, ami: str) -> None:
    (image,) = client("ec2").describe_images(ImageIds=[ami])["Images"]

    assert image["Architecture"] == "x86_64"
    assert "Amazon Linux 2023" in image["Description"]


def test_a_rule_for_a_protocol_without_ports_is_stored_without_ports(
    client: ClientFactory, network: Any
) -> None:
    """Gap 18: kops opens IP-in-IP (protocol 4, calico) between nodes, with no ports."""
    ec2 = client("ec2")
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=network.vpc_id)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "4", "UserIdGroupPairs": [{"GroupId": group}]}]
    )
    [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    [rule] = described["IpPermissions"]
    assert rule["IpProtocol"] == "4"
    assert "FromPort" not in rule
    assert "ToPort" not in rule
    assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [group]


def test_tcp_rules_keep_their_ports(client: ClientFactory, network: Any) -> None:
    ec2 = client("ec2")
    group = ec2.create_security_group(GroupName="api", Description="api", VpcId=network.vpc_id)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    [rule] = described["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (443, 443)


@pytest.mark.parametrize(
    ("name", "architecture"),
    [
        ("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260218", "x86_64"),
        ("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20260218", "arm64"),
    ],
)
def test_the_canonical_images_kops_looks_up_exist(
    client: ClientFactory, name: str, architecture: str
) -> None:
    """Gap 19: kops finds `099720109477/<name>` by owner and name."""
    images = client("ec2").describe_images(
        Owners=["099720109477"], Filters=[{"Name": "name", "Values": [name]}]
    )["Images"]
    assert [(image["Name"], image["Architecture"]) for image in images] == [(name, architecture)]
    assert images[0]["RootDeviceType"] == "ebs"
    assert images[0]["Public"] is True


def test_deleting_a_subnet_frees_its_route_table(client: ClientFactory, network: Any) -> None:
    """Gap 22: `kops delete cluster` deletes subnets, then their route tables."""
    ec2 = client("ec2")
    table = ec2.create_route_table(VpcId=network.vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=network.subnet_ids[0])
    ec2.delete_subnet(SubnetId=network.subnet_ids[0])
    [described] = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert described["Associations"] == []
    ec2.delete_route_table(RouteTableId=table)
    assert not ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": [table]}])[
        "RouteTables"
    ]


def test_a_subnet_with_interfaces_in_it_is_not_deleted(
    client: ClientFactory, network: Any, launch: Launch
) -> None:
    """Gap 28: `kops delete cluster` deletes subnets and load balancers side by side; AWS
    refuses the subnet while the load balancer's interfaces (an instance's, a NAT gateway's) are
    in it."""
    ec2, elbv2 = client("ec2"), client("elbv2")
    lb = elbv2.create_load_balancer(
        Name="api", Type="network", Scheme="internal", Subnets=list(network.subnet_ids)
    )["LoadBalancers"][0]["LoadBalancerArn"]
    instance = launch(SubnetId=network.subnet_ids[1])["InstanceId"]
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=network.subnet_ids[1], AllocationId=address)[
        "NatGateway"
    ]["NatGatewayId"]

    for subnet in network.subnet_ids:
        with pytest.raises(ClientError) as err:
            ec2.delete_subnet(SubnetId=subnet)
        assert err.value.response["Error"]["Code"] == "DependencyViolation"
        assert subnet in err.value.response["Error"]["Message"]

    elbv2.delete_load_balancer(LoadBalancerArn=lb)
    ec2.delete_subnet(SubnetId=network.subnet_ids[0])
    ec2.terminate_instances(InstanceIds=[instance])  # its primary interface goes with it
    ec2.delete_nat_gateway(NatGatewayId=nat)  # and the NAT gateway's with it
    ec2.delete_subnet(SubnetId=network.subnet_ids[1])
    assert not ec2.describe_subnets(
        Filters=[{"Name": "subnet-id", "Values": list(network.subnet_ids)}]
    )["Subnets"]


def test_a_subnets_hostname_type_is_kept(client: ClientFactory, network: Any) -> None:
    """Gap 27: kops sets resource-based names on its subnets; moto forgot, so every
    `kops update cluster --yes` set them again (two writes per subnet)."""
    ec2 = client("ec2")
    subnet = network.subnet_ids[0]
    ec2.modify_subnet_attribute(SubnetId=subnet, PrivateDnsHostnameTypeOnLaunch="resource-name")
    ec2.modify_subnet_attribute(
        SubnetId=subnet, EnableResourceNameDnsARecordOnLaunch={"Value": True}
    )
    [described] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert described["PrivateDnsNameOptionsOnLaunch"] == {
        "HostnameType": "resource-name",
        "EnableResourceNameDnsARecord": True,
        "EnableResourceNameDnsAAAARecord": False,
    }


def test_dhcp_options_outlive_their_vpc(client: ClientFactory) -> None:
    """Gap 23: `kops delete cluster` deletes the VPC, then the DHCP options it made."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    options = ec2.create_dhcp_options(
        DhcpConfigurations=[{"Key": "domain-name", "Values": ["ap-northeast-1.compute.internal"]}]
    )["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=options, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    listed = ec2.describe_dhcp_options(DhcpOptionsIds=[options])["DhcpOptions"]
    assert [item["DhcpOptionsId"] for item in listed] == [options]
    ec2.delete_dhcp_options(DhcpOptionsId=options)


def test_instance_topology_is_empty_for_types_without_one(client: Any) -> None:
    """Gap 25: the AWS cloud controller asks for the topology of every node it initialises."""
    assert client("ec2").describe_instance_topology()["Instances"] == []
