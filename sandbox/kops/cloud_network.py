"""The network ``kops update cluster --yes`` builds for a cluster: its VPC, subnets, internet
and NAT gateways, route tables and security groups, each found again by its tags first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.kops.cloud import ClusterCloud


class ClusterNetwork:
    """Ensures the network of one cluster (idempotent: what exists is reused)."""

    def __init__(self, cloud: ClusterCloud) -> None:
        self._cloud = cloud

    def ensure_vpc(self, cidr: str) -> tuple[str, bool]:
        """Return the cluster VPC's id (creating it) and whether it was created."""
        found = self._cloud.find_one("describe_vpcs", "Vpcs", self._cloud.cluster)
        if found:
            return found["VpcId"], False
        vpc = self._cloud.ec2.create_vpc(
            CidrBlock=cidr,
            TagSpecifications=self._cloud.spec("vpc", self._cloud.tags(self._cloud.cluster)),
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        self._cloud.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        self._cloud.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        return vpc_id, True

    def ensure_subnet(self, *, vpc_id: str, subnet: dict[str, Any]) -> tuple[str, bool]:
        """Return the id of one subnet of the cluster spec (creating it), and whether it was created."""
        kind = subnet["type"]
        name = f"{subnet['name']}.{self._cloud.cluster}"
        found = self._cloud.find_one("describe_subnets", "Subnets", name)
        if found:
            return found["SubnetId"], False
        role = "kubernetes.io/role/internal-elb" if kind == "Private" else "kubernetes.io/role/elb"
        tags = self._cloud.tags(name, SubnetType=kind, **{role: "1"})
        created = self._cloud.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=subnet["cidr"],
            AvailabilityZone=subnet["zone"],
            TagSpecifications=self._cloud.spec("subnet", tags),
        )["Subnet"]
        return created["SubnetId"], True

    def ensure_internet_gateway(self, vpc_id: str) -> tuple[str, bool]:
        """Return the cluster's internet gateway (created and attached if missing)."""
        found = self._cloud.find_one(
            "describe_internet_gateways", "InternetGateways", self._cloud.cluster
        )
        if found:
            return found["InternetGatewayId"], False
        igw = self._cloud.ec2.create_internet_gateway(
            TagSpecifications=self._cloud.spec(
                "internet-gateway", self._cloud.tags(self._cloud.cluster)
            )
        )["InternetGateway"]
        self._cloud.ec2.attach_internet_gateway(
            InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id
        )
        return igw["InternetGatewayId"], True

    def ensure_nat_gateway(self, *, zone: str, utility_subnet_id: str) -> tuple[str, bool]:
        """Return the zone's NAT gateway in its utility subnet (with its elastic IP)."""
        name = f"{zone}.{self._cloud.cluster}"
        gateways = [
            gateway
            for gateway in self._cloud.owned_items("describe_nat_gateways", "NatGateways")
            if self._cloud.is_owned(gateway, name)
            and gateway.get("State") in ("pending", "available")
        ]
        if gateways:
            return gateways[0]["NatGatewayId"], False
        address = self._cloud.ec2.allocate_address(
            Domain="vpc", TagSpecifications=self._cloud.spec("elastic-ip", self._cloud.tags(name))
        )
        gateway = self._cloud.ec2.create_nat_gateway(
            SubnetId=utility_subnet_id,
            AllocationId=address["AllocationId"],
            TagSpecifications=self._cloud.spec("natgateway", self._cloud.tags(name)),
        )["NatGateway"]
        return gateway["NatGatewayId"], True

    def ensure_route_table(
        self,
        *,
        vpc_id: str,
        name: str,
        role: str,
        route: dict[str, str],
        subnet_ids: list[str],
    ) -> tuple[str, bool]:
        """Return a route table with a default route, associated with the given subnets."""
        found = self._cloud.find_one("describe_route_tables", "RouteTables", name)
        created = found is None
        if found is None:
            found = self._cloud.ec2.create_route_table(
                VpcId=vpc_id,
                TagSpecifications=self._cloud.spec(
                    "route-table", self._cloud.tags(name, **{"kubernetes.io/kops/role": role})
                ),
            )["RouteTable"]
            self._cloud.ec2.create_route(
                RouteTableId=found["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", **route
            )
        associated = {a.get("SubnetId") for a in found.get("Associations", [])}
        for subnet_id in subnet_ids:
            if subnet_id not in associated:
                self._cloud.ec2.associate_route_table(
                    RouteTableId=found["RouteTableId"], SubnetId=subnet_id
                )
        return found["RouteTableId"], created

    def ensure_security_groups(self, vpc_id: str) -> tuple[dict[str, str], bool]:
        """Return {"masters": id, "nodes": id}, created with kops's rules when missing."""
        ids: dict[str, str] = {}
        created = False
        for role, description in (
            ("masters", "Security group for masters"),
            ("nodes", "Security group for nodes"),
        ):
            name = f"{role}.{self._cloud.cluster}"
            found = self._cloud.ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "group-name", "Values": [name]},
                ]
            )["SecurityGroups"]
            if found:
                ids[role] = found[0]["GroupId"]
                continue
            ids[role] = self._cloud.ec2.create_security_group(
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=self._cloud.spec("security-group", self._cloud.tags(name)),
            )["GroupId"]
            created = True
        if created:
            self._authorize_defaults(ids)
        return ids, created

    def _authorize_defaults(self, ids: dict[str, str]) -> None:
        masters, nodes = ids["masters"], ids["nodes"]

        def allow(group: str, permissions: list[dict[str, Any]]) -> None:
            try:
                self._cloud.ec2.authorize_security_group_ingress(
                    GroupId=group, IpPermissions=permissions
                )
            except Exception as exc:
                if "Duplicate" not in str(exc):
                    raise

        everything = {"IpProtocol": "-1"}
        allow(masters, [{**everything, "UserIdGroupPairs": [{"GroupId": masters}]}])
        allow(nodes, [{**everything, "UserIdGroupPairs": [{"GroupId": masters}]}])
        allow(nodes, [{**everything, "UserIdGroupPairs": [{"GroupId": nodes}]}])
        node_to_master = [
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2379},
            {"IpProtocol": "tcp", "FromPort": 2382, "ToPort": 4000},
            {"IpProtocol": "tcp", "FromPort": 4003, "ToPort": 65535},
            {"IpProtocol": "udp", "FromPort": 1, "ToPort": 65535},
        ]
        allow(masters, [{**p, "UserIdGroupPairs": [{"GroupId": nodes}]} for p in node_to_master])
        anywhere = [{"CidrIp": "0.0.0.0/0"}]
        allow(
            masters, [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": anywhere}]
        )
        for group in (masters, nodes):
            allow(
                group, [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": anywhere}]
            )

    # -- IAM -----------------------------------------------------------------------------------
