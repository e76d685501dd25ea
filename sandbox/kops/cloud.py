"""What ``kops update cluster --yes`` builds in AWS, and what ``kops delete cluster`` finds and removes.

Everything goes through boto3 with the standard environment (``AWS_ENDPOINT_URL`` points at the
twin's moto server), so the resources are ordinary EC2/IAM/ELBv2 objects any client can see.
Resources are found again by their tags (``KubernetesCluster=NAME``) or kops's names, which makes
applying idempotent and lets deletion catch what others tagged for the cluster (the cloud
controller's load balancers and security groups).

Kept simpler than kops: instances are launched directly (no launch templates or auto scaling
groups), one per slot of each instance group, and there is no etcd volume, DNS or bastion.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from sandbox.kops import iam
from sandbox.kops.utils import resource_name32

LIVE_INSTANCE_STATES = ["pending", "running"]
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
FALLBACK_IMAGE = "ami-0a1b2c3d4e5f60718"
UBUNTU_OWNER = "099720109477"

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)
_LOADER = botocore.loaders.create_loader()


def aws_session(region: str) -> Any:
    """Return a boto3 session for a region, configured from the environment like any client.

    Sessions share one botocore data loader, so the service models (EC2's takes a second to
    parse) are read once per process however many commands run in it.
    """
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=region)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Return {k: v} as AWS's [{'Key': k, 'Value': v}], sorted."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Return AWS's [{'Key': k, 'Value': v}] as {k: v}."""
    return {tag["Key"]: tag["Value"] for tag in tags or []}


@dataclass(frozen=True)
class Resource:
    """One cloud resource kops would list for deletion."""

    type: str
    id: str
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Slot:
    """One instance an instance group wants: where it goes and what it carries."""

    group: str
    control_plane: bool
    zone: str
    subnet_name: str
    machine_type: str
    volume_size: int | None


class ClusterCloud:
    """The AWS side of one cluster, in one region."""

    def __init__(self, *, cluster: str, region: str, labels: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.region = region
        self.labels = dict(labels or {})
        self._session = aws_session(region)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """Return a boto3 client for the region (endpoint from the environment)."""
        if service not in self._clients:
            self._clients[service] = self._session.client(service, config=_CLIENT_CONFIG)
        return self._clients[service]

    @property
    def ec2(self) -> Any:
        """The EC2 client."""
        return self.client("ec2")

    # -- tags ----------------------------------------------------------------------------------
    def tags(self, name: str | None = None, **extra: str) -> dict[str, str]:
        """Return kops's tags for a cluster resource: cloud labels, ownership, Name, extras."""
        tags = {
            **self.labels,
            "KubernetesCluster": self.cluster,
            f"kubernetes.io/cluster/{self.cluster}": "owned",
        }
        if name is not None:
            tags["Name"] = name
        tags.update(extra)
        return tags

    def _spec(self, resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]

    def _owned_filter(self) -> list[dict[str, Any]]:
        return [{"Name": "tag:KubernetesCluster", "Values": [self.cluster]}]

    def _is_owned(self, item: dict[str, Any], name: str | None = None) -> bool:
        """Whether a described item carries the cluster's tag (and Name); filters are re-checked
        here because moto ignores tag filters on some operations (NAT gateways)."""
        tags = tag_dict(item.get("Tags"))
        return tags.get("KubernetesCluster") == self.cluster and (
            name is None or tags.get("Name") == name
        )

    def _owned_items(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items = getattr(self.ec2, operation)(Filters=self._owned_filter(), **kwargs)[key]
        return [item for item in items if self._is_owned(item)]

    def _find_one(self, operation: str, key: str, name: str) -> dict[str, Any] | None:
        filters = [*self._owned_filter(), {"Name": "tag:Name", "Values": [name]}]
        items = getattr(self.ec2, operation)(Filters=filters)[key]
        items = [item for item in items if self._is_owned(item, name)]
        return items[0] if items else None

    # -- network -------------------------------------------------------------------------------
    def ensure_vpc(self, cidr: str) -> tuple[str, bool]:
        """Return the cluster VPC's id (creating it) and whether it was created."""
        found = self._find_one("describe_vpcs", "Vpcs", self.cluster)
        if found:
            return found["VpcId"], False
        vpc = self.ec2.create_vpc(
            CidrBlock=cidr, TagSpecifications=self._spec("vpc", self.tags(self.cluster))
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        return vpc_id, True

    def ensure_subnet(self, *, vpc_id: str, subnet: dict[str, Any]) -> tuple[str, bool]:
        """Return the id of one subnet of the cluster spec (creating it), and whether it was created."""
        kind = subnet["type"]
        name = f"{subnet['name']}.{self.cluster}"
        found = self._find_one("describe_subnets", "Subnets", name)
        if found:
            return found["SubnetId"], False
        role = "kubernetes.io/role/internal-elb" if kind == "Private" else "kubernetes.io/role/elb"
        tags = self.tags(name, SubnetType=kind, **{role: "1"})
        created = self.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=subnet["cidr"],
            AvailabilityZone=subnet["zone"],
            TagSpecifications=self._spec("subnet", tags),
        )["Subnet"]
        return created["SubnetId"], True

    def ensure_internet_gateway(self, vpc_id: str) -> tuple[str, bool]:
        """Return the cluster's internet gateway (created and attached if missing)."""
        found = self._find_one("describe_internet_gateways", "InternetGateways", self.cluster)
        if found:
            return found["InternetGatewayId"], False
        igw = self.ec2.create_internet_gateway(
            TagSpecifications=self._spec("internet-gateway", self.tags(self.cluster))
        )["InternetGateway"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
        return igw["InternetGatewayId"], True

    def ensure_nat_gateway(self, *, zone: str, utility_subnet_id: str) -> tuple[str, bool]:
        """Return the zone's NAT gateway in its utility subnet (with its elastic IP)."""
        name = f"{zone}.{self.cluster}"
        gateways = [
            gateway
            for gateway in self._owned_items("describe_nat_gateways", "NatGateways")
            if self._is_owned(gateway, name) and gateway.get("State") in ("pending", "available")
        ]
        if gateways:
            return gateways[0]["NatGatewayId"], False
        address = self.ec2.allocate_address(
            Domain="vpc", TagSpecifications=self._spec("elastic-ip", self.tags(name))
        )
        gateway = self.ec2.create_nat_gateway(
            SubnetId=utility_subnet_id,
            AllocationId=address["AllocationId"],
            TagSpecifications=self._spec("natgateway", self.tags(name)),
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
        found = self._find_one("describe_route_tables", "RouteTables", name)
        created = found is None
        if found is None:
            found = self.ec2.create_route_table(
                VpcId=vpc_id,
                TagSpecifications=self._spec(
                    "route-table", self.tags(name, **{"kubernetes.io/kops/role": role})
                ),
            )["RouteTable"]
            self.ec2.create_route(
                RouteTableId=found["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", **route
            )
        associated = {a.get("SubnetId") for a in found.get("Associations", [])}
        for subnet_id in subnet_ids:
            if subnet_id not in associated:
                self.ec2.associate_route_table(
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
            name = f"{role}.{self.cluster}"
            found = self.ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "group-name", "Values": [name]},
                ]
            )["SecurityGroups"]
            if found:
                ids[role] = found[0]["GroupId"]
                continue
            ids[role] = self.ec2.create_security_group(
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=self._spec("security-group", self.tags(name)),
            )["GroupId"]
            created = True
        if created:
            self._authorize_defaults(ids)
        return ids, created

    def _authorize_defaults(self, ids: dict[str, str]) -> None:
        masters, nodes = ids["masters"], ids["nodes"]

        def allow(group: str, permissions: list[dict[str, Any]]) -> None:
            try:
                self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
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
    def ensure_roles(self, *, bucket: str, prefix: str) -> bool:
        """Create the masters/nodes roles, inline policies and instance profiles; return if changed."""
        client = self.client("iam")
        changed = False
        policies = {
            iam.control_plane_role(self.cluster): iam.control_plane_policy(
                self.cluster, bucket=bucket, prefix=prefix
            ),
            iam.node_role(self.cluster): iam.node_policy(self.cluster),
        }
        tags = tag_list(self.tags())
        for name, policy in policies.items():
            try:
                client.get_role(RoleName=name)
            except client.exceptions.NoSuchEntityException:
                client.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=iam.policy_json(iam.ASSUME_ROLE_POLICY),
                    Tags=tags,
                )
                changed = True
            try:
                client.get_role_policy(RoleName=name, PolicyName=name)
            except client.exceptions.NoSuchEntityException:
                client.put_role_policy(
                    RoleName=name, PolicyName=name, PolicyDocument=iam.policy_json(policy)
                )
                changed = True
            try:
                profile = client.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
            except client.exceptions.NoSuchEntityException:
                profile = client.create_instance_profile(InstanceProfileName=name, Tags=tags)[
                    "InstanceProfile"
                ]
                changed = True
            if not any(role["RoleName"] == name for role in profile.get("Roles", [])):
                client.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
                changed = True
        return changed

    # -- API load balancer -----------------------------------------------------------------------
    def ensure_api_load_balancer(
        self, *, subnet_ids: list[str], vpc_id: str, scheme: str, control_plane_ids: list[str]
    ) -> bool:
        """Create the API's network load balancer, TCP/443 target group and listener if missing."""
        elbv2 = self.client("elbv2")
        name = resource_name32(self.cluster, "api")
        changed = False
        try:
            balancer = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]
        except elbv2.exceptions.LoadBalancerNotFoundException:
            balancer = elbv2.create_load_balancer(
                Name=name,
                Subnets=subnet_ids,
                Scheme=scheme,
                Type="network",
                Tags=tag_list(self.tags(f"api.{self.cluster}")),
            )["LoadBalancers"][0]
            changed = True
        group_name = resource_name32(self.cluster, "tcp")
        try:
            group = elbv2.describe_target_groups(Names=[group_name])["TargetGroups"][0]
        except elbv2.exceptions.TargetGroupNotFoundException:
            group = elbv2.create_target_group(
                Name=group_name,
                Protocol="TCP",
                Port=443,
                VpcId=vpc_id,
                TargetType="instance",
                HealthCheckProtocol="TCP",
                Tags=tag_list(self.tags(group_name)),
            )["TargetGroups"][0]
            changed = True
        listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])
        if not listeners.get("Listeners"):
            elbv2.create_listener(
                LoadBalancerArn=balancer["LoadBalancerArn"],
                Protocol="TCP",
                Port=443,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
            )
            changed = True
        registered = {
            d["Target"]["Id"]
            for d in elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])[
                "TargetHealthDescriptions"
            ]
        }
        missing = [i for i in control_plane_ids if i not in registered]
        if missing:  # like kops's tasks: only what is not there yet
            elbv2.register_targets(
                TargetGroupArn=group["TargetGroupArn"],
                Targets=[{"Id": instance_id} for instance_id in missing],
            )
            changed = True
        return changed

    # -- instances -----------------------------------------------------------------------------
    def image_id(self) -> str:
        """Return an AMI to launch: an Ubuntu image if the cloud has one, else AL2023, else a fixed id."""
        try:
            images = self.ec2.describe_images(
                Owners=[UBUNTU_OWNER],
                Filters=[{"Name": "name", "Values": ["ubuntu/images/*"]}],
            )["Images"]
        except Exception:  # noqa: BLE001 - an image lookup the cloud lacks is not fatal
            images = []
        if images:
            newest = max(images, key=lambda image: (image.get("CreationDate", ""), image["Name"]))
            return str(newest["ImageId"])
        try:
            value = self.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
            return str(value)
        except Exception:  # noqa: BLE001
            return FALLBACK_IMAGE

    def instances(self) -> list[dict[str, Any]]:
        """Return the cluster's pending or running instances, oldest first."""
        reservations = self.ec2.describe_instances(
            Filters=[
                *self._owned_filter(),
                {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
            ]
        )["Reservations"]
        found = [i for r in reservations for i in r["Instances"] if self._is_owned(i)]
        return sorted(found, key=lambda i: (str(i.get("LaunchTime", "")), i["InstanceId"]))

    def launch(
        self,
        *,
        slot: Slot,
        image_id: str,
        subnet_id: str,
        security_group_id: str,
        config_base: str,
    ) -> dict[str, Any]:
        """Launch one instance of an instance group, tagged as kops tags it.

        Its user data carries what nodeup reads first, as kops writes it: the cluster's state
        store location (``ConfigBase``), the instance group and its role.
        """
        if slot.control_plane:
            name = f"{slot.group}.masters.{self.cluster}"
            role_tags = {"k8s.io/role/control-plane": "1", "k8s.io/role/master": "1"}
            profile = iam.control_plane_role(self.cluster)
        else:
            name = f"{slot.group}.{self.cluster}"
            role_tags = {"k8s.io/role/node": "1"}
            profile = iam.node_role(self.cluster)
        tags = self.tags(name, **role_tags, **{"kops.k8s.io/instancegroup": slot.group})
        kwargs: dict[str, Any] = {}
        if slot.volume_size:
            kwargs["BlockDeviceMappings"] = [
                {
                    "DeviceName": "/dev/sda1",
                    "Ebs": {
                        "VolumeSize": slot.volume_size,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                        "Encrypted": True,
                    },
                }
            ]
        instance = self.ec2.run_instances(
            ImageId=image_id,
            InstanceType=slot.machine_type,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet_id,
            SecurityGroupIds=[security_group_id],
            IamInstanceProfile={"Name": profile},
            MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 3},
            UserData=_user_data(self.cluster, slot, config_base),
            TagSpecifications=[
                *self._spec("instance", tags),
                *self._spec("volume", tags),
            ],
            **kwargs,
        )["Instances"][0]
        return dict(instance)

    # -- listing and deleting ------------------------------------------------------------------
    def list_resources(self) -> list[Resource]:
        """Return every resource of the cluster that ``kops delete cluster`` would delete."""
        found: list[Resource] = []
        found += self._load_balancers()
        for instance in self.instances():
            found.append(
                Resource(
                    "instance",
                    instance["InstanceId"],
                    tag_dict(instance.get("Tags")).get("Name", ""),
                )
            )
        for gateway in self._owned_items("describe_nat_gateways", "NatGateways"):
            if gateway.get("State") in ("deleted", "deleting"):
                continue
            name = tag_dict(gateway.get("Tags")).get("Name", "")
            found.append(Resource("nat-gateway", gateway["NatGatewayId"], name))
        for address in self._owned_items("describe_addresses", "Addresses"):
            name = tag_dict(address.get("Tags")).get("Name", "")
            found.append(
                Resource(
                    "elastic-ip", address["AllocationId"], name, {"ip": address.get("PublicIp")}
                )
            )
        for igw in self._owned_items("describe_internet_gateways", "InternetGateways"):
            name = tag_dict(igw.get("Tags")).get("Name", "")
            vpcs = [a["VpcId"] for a in igw.get("Attachments", [])]
            found.append(
                Resource("internet-gateway", igw["InternetGatewayId"], name, {"vpcs": vpcs})
            )
        for table in self._owned_items("describe_route_tables", "RouteTables"):
            name = tag_dict(table.get("Tags")).get("Name", "")
            associations = [
                a["RouteTableAssociationId"]
                for a in table.get("Associations", [])
                if not a.get("Main")
            ]
            found.append(
                Resource("route-table", table["RouteTableId"], name, {"associations": associations})
            )
        for group in self._owned_items("describe_security_groups", "SecurityGroups"):
            found.append(
                Resource(
                    "security-group", group["GroupId"], group.get("GroupName", ""), {"group": group}
                )
            )
        for subnet in self._owned_items("describe_subnets", "Subnets"):
            name = tag_dict(subnet.get("Tags")).get("Name", "")
            found.append(Resource("subnet", subnet["SubnetId"], name))
        for vpc in self._owned_items("describe_vpcs", "Vpcs"):
            name = tag_dict(vpc.get("Tags")).get("Name", "")
            found.append(Resource("vpc", vpc["VpcId"], name))
        client = self.client("iam")
        for name in (
            iam.control_plane_role(self.cluster),
            iam.node_role(self.cluster),
            f"bastions.{self.cluster}",
        ):
            try:
                client.get_instance_profile(InstanceProfileName=name)
                found.append(Resource("iam-instance-profile", name, name))
            except client.exceptions.NoSuchEntityException:
                pass
            try:
                client.get_role(RoleName=name)
                found.append(Resource("iam-role", name, name))
            except client.exceptions.NoSuchEntityException:
                pass
        return found

    def _load_balancers(self) -> list[Resource]:
        """Return the load balancers and target groups tagged for the cluster (any creator)."""
        found: list[Resource] = []
        elbv2 = self.client("elbv2")
        wanted = {
            ("KubernetesCluster", self.cluster),
            (f"kubernetes.io/cluster/{self.cluster}", "owned"),
        }

        def tagged(arns: list[str]) -> set[str]:
            hits: set[str] = set()
            for start in range(0, len(arns), 20):
                descriptions = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
                for description in descriptions["TagDescriptions"]:
                    pairs = {(t["Key"], t["Value"]) for t in description.get("Tags", [])}
                    if pairs & wanted:
                        hits.add(description["ResourceArn"])
            return hits

        balancers = elbv2.describe_load_balancers().get("LoadBalancers", [])
        hits = tagged([b["LoadBalancerArn"] for b in balancers])
        for balancer in balancers:
            if balancer["LoadBalancerArn"] in hits:
                found.append(
                    Resource(
                        "load-balancer", balancer["LoadBalancerArn"], balancer["LoadBalancerName"]
                    )
                )
        groups = elbv2.describe_target_groups().get("TargetGroups", [])
        hits = tagged([g["TargetGroupArn"] for g in groups])
        for group in groups:
            if group["TargetGroupArn"] in hits:
                found.append(
                    Resource("target-group", group["TargetGroupArn"], group["TargetGroupName"])
                )
        elb = self.client("elb")
        classic = elb.describe_load_balancers().get("LoadBalancerDescriptions", [])
        names = [b["LoadBalancerName"] for b in classic]
        for start in range(0, len(names), 20):
            for description in elb.describe_tags(LoadBalancerNames=names[start : start + 20])[
                "TagDescriptions"
            ]:
                pairs = {(t["Key"], t["Value"]) for t in description.get("Tags", [])}
                if pairs & wanted:
                    name = description["LoadBalancerName"]
                    found.append(Resource("load-balancer", name, name, {"classic": True}))
        return found

    def delete_resources(
        self,
        resources: list[Resource],
        *,
        wait: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[str]:
        """Delete resources in dependency order, yielding kops's ``type:id\\tok`` progress lines."""
        order = [
            "load-balancer",
            "target-group",
            "instance",
            "nat-gateway",
            "elastic-ip",
            "internet-gateway",
            "route-table",
            "security-group",
            "subnet",
            "vpc",
            "iam-instance-profile",
            "iam-role",
        ]
        by_type: dict[str, list[Resource]] = {kind: [] for kind in order}
        for resource in resources:
            by_type.setdefault(resource.type, []).append(resource)
        groups = by_type["security-group"]
        for group in groups:
            self._revoke_references(group)
        for kind in order:
            for resource in by_type.get(kind, []):
                getattr(self, "_delete_" + kind.replace("-", "_"))(resource)
                yield f"{resource.type}:{resource.id}\tok"
            if kind == "instance" and by_type["instance"]:
                self._wait_terminated([r.id for r in by_type["instance"]], wait=wait, sleep=sleep)

    def _wait_terminated(
        self, ids: list[str], *, wait: float, sleep: Callable[[float], None]
    ) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reservations = self.ec2.describe_instances(InstanceIds=ids)["Reservations"]
            states = {i["State"]["Name"] for r in reservations for i in r["Instances"]}
            if states <= {"terminated"}:
                return
            sleep(0.2)

    def _revoke_references(self, resource: Resource) -> None:
        group = resource.extra.get("group") or {}
        permissions = [p for p in group.get("IpPermissions", []) if p.get("UserIdGroupPairs")]
        if permissions:
            # The group may be gone already, or its rules revoked by a concurrent delete.
            with contextlib.suppress(Exception):
                self.ec2.revoke_security_group_ingress(
                    GroupId=resource.id, IpPermissions=permissions
                )

    def _delete_load_balancer(self, resource: Resource) -> None:
        if resource.extra.get("classic"):
            self.client("elb").delete_load_balancer(LoadBalancerName=resource.id)
            return
        elbv2 = self.client("elbv2")
        for listener in elbv2.describe_listeners(LoadBalancerArn=resource.id).get("Listeners", []):
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=resource.id)

    def _delete_target_group(self, resource: Resource) -> None:
        self.client("elbv2").delete_target_group(TargetGroupArn=resource.id)

    def _delete_instance(self, resource: Resource) -> None:
        self.ec2.terminate_instances(InstanceIds=[resource.id])

    def _delete_nat_gateway(self, resource: Resource) -> None:
        self.ec2.delete_nat_gateway(NatGatewayId=resource.id)

    def _delete_elastic_ip(self, resource: Resource) -> None:
        self.ec2.release_address(AllocationId=resource.id)

    def _delete_internet_gateway(self, resource: Resource) -> None:
        for vpc_id in resource.extra.get("vpcs", []):
            self.ec2.detach_internet_gateway(InternetGatewayId=resource.id, VpcId=vpc_id)
        self.ec2.delete_internet_gateway(InternetGatewayId=resource.id)

    def _delete_route_table(self, resource: Resource) -> None:
        for association in resource.extra.get("associations", []):
            self.ec2.disassociate_route_table(AssociationId=association)
        self.ec2.delete_route_table(RouteTableId=resource.id)

    def _delete_security_group(self, resource: Resource) -> None:
        self.ec2.delete_security_group(GroupId=resource.id)

    def _delete_subnet(self, resource: Resource) -> None:
        self.ec2.delete_subnet(SubnetId=resource.id)

    def _delete_vpc(self, resource: Resource) -> None:
        self.ec2.delete_vpc(VpcId=resource.id)

    def _delete_iam_instance_profile(self, resource: Resource) -> None:
        client = self.client("iam")
        profile = client.get_instance_profile(InstanceProfileName=resource.id)["InstanceProfile"]
        for role in profile.get("Roles", []):
            client.remove_role_from_instance_profile(
                InstanceProfileName=resource.id, RoleName=role["RoleName"]
            )
        client.delete_instance_profile(InstanceProfileName=resource.id)

    def _delete_iam_role(self, resource: Resource) -> None:
        client = self.client("iam")
        for name in client.list_role_policies(RoleName=resource.id).get("PolicyNames", []):
            client.delete_role_policy(RoleName=resource.id, PolicyName=name)
        for attached in client.list_attached_role_policies(RoleName=resource.id).get(
            "AttachedPolicies", []
        ):
            client.detach_role_policy(RoleName=resource.id, PolicyArn=attached["PolicyArn"])
        client.delete_role(RoleName=resource.id)


def _user_data(cluster: str, slot: Slot, config_base: str) -> str:
    """Return the start of kops's nodeup bootstrap script, with its kube_env settings."""
    role = "ControlPlane" if slot.control_plane else "Node"
    return (
        "#!/bin/bash\nset -o errexit\nset -o nounset\nset -o pipefail\n\n"
        "cat > conf/kube_env.yaml << '__EOF_KUBE_ENV'\n"
        f"CloudProvider: aws\nClusterName: {cluster}\nConfigBase: {config_base}\n"
        f"InstanceGroupName: {slot.group}\nInstanceGroupRole: {role}\n"
        "__EOF_KUBE_ENV\n\ndownload-release\n"
    )
