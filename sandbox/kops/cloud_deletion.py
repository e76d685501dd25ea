"""What ``kops delete cluster`` finds of a cluster in AWS, and how it removes it.

The listing follows kops: the cluster's tagged resources and kops's names, plus what others tagged
for the cluster (the cloud controller's load balancers and security groups); deletion goes in
dependency order, each kind by its own call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.kops import iam
from sandbox.kops.utils import tag_dict

if TYPE_CHECKING:
    from sandbox.kops.cloud import ClusterCloud


@dataclass(frozen=True)
class Resource:
    """One cloud resource kops would list for deletion."""

    type: str
    id: str
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class ClusterDeletion:
    """Lists and deletes the cloud resources of one cluster."""

    def __init__(self, cloud: ClusterCloud) -> None:
        self._cloud = cloud

    def list_resources(self) -> list[Resource]:
        """Return every resource of the cluster that ``kops delete cluster`` would delete."""
        found: list[Resource] = []
        found += self._load_balancers()
        for instance in self._cloud.instances():
            found.append(
                Resource(
                    "instance",
                    instance["InstanceId"],
                    tag_dict(instance.get("Tags")).get("Name", ""),
                )
            )
        for gateway in self._cloud.owned_items("describe_nat_gateways", "NatGateways"):
            if gateway.get("State") in ("deleted", "deleting"):
                continue
            name = tag_dict(gateway.get("Tags")).get("Name", "")
            found.append(Resource("nat-gateway", gateway["NatGatewayId"], name))
        for address in self._cloud.owned_items("describe_addresses", "Addresses"):
            name = tag_dict(address.get("Tags")).get("Name", "")
            found.append(
                Resource(
                    "elastic-ip", address["AllocationId"], name, {"ip": address.get("PublicIp")}
                )
            )
        for igw in self._cloud.owned_items("describe_internet_gateways", "InternetGateways"):
            name = tag_dict(igw.get("Tags")).get("Name", "")
            vpcs = [a["VpcId"] for a in igw.get("Attachments", [])]
            found.append(
                Resource("internet-gateway", igw["InternetGatewayId"], name, {"vpcs": vpcs})
            )
        for table in self._cloud.owned_items("describe_route_tables", "RouteTables"):
            name = tag_dict(table.get("Tags")).get("Name", "")
            associations = [
                a["RouteTableAssociationId"]
                for a in table.get("Associations", [])
                if not a.get("Main")
            ]
            found.append(
                Resource("route-table", table["RouteTableId"], name, {"associations": associations})
            )
        for group in self._cloud.owned_items("describe_security_groups", "SecurityGroups"):
            found.append(
                Resource(
                    "security-group", group["GroupId"], group.get("GroupName", ""), {"group": group}
                )
            )
        for subnet in self._cloud.owned_items("describe_subnets", "Subnets"):
            name = tag_dict(subnet.get("Tags")).get("Name", "")
            found.append(Resource("subnet", subnet["SubnetId"], name))
        for vpc in self._cloud.owned_items("describe_vpcs", "Vpcs"):
            name = tag_dict(vpc.get("Tags")).get("Name", "")
            found.append(Resource("vpc", vpc["VpcId"], name))
        client = self._cloud.client("iam")
        for name in (
            iam.control_plane_role(self._cloud.cluster),
            iam.node_role(self._cloud.cluster),
            f"bastions.{self._cloud.cluster}",
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
        elbv2 = self._cloud.client("elbv2")
        wanted = {
            ("KubernetesCluster", self._cloud.cluster),
            (f"kubernetes.io/cluster/{self._cloud.cluster}", "owned"),
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
        elb = self._cloud.client("elb")
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
            reservations = self._cloud.ec2.describe_instances(InstanceIds=ids)["Reservations"]
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
                self._cloud.ec2.revoke_security_group_ingress(
                    GroupId=resource.id, IpPermissions=permissions
                )

    def _delete_load_balancer(self, resource: Resource) -> None:
        if resource.extra.get("classic"):
            self._cloud.client("elb").delete_load_balancer(LoadBalancerName=resource.id)
            return
        elbv2 = self._cloud.client("elbv2")
        for listener in elbv2.describe_listeners(LoadBalancerArn=resource.id).get("Listeners", []):
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=resource.id)

    def _delete_target_group(self, resource: Resource) -> None:
        self._cloud.client("elbv2").delete_target_group(TargetGroupArn=resource.id)

    def _delete_instance(self, resource: Resource) -> None:
        self._cloud.ec2.terminate_instances(InstanceIds=[resource.id])

    def _delete_nat_gateway(self, resource: Resource) -> None:
        self._cloud.ec2.delete_nat_gateway(NatGatewayId=resource.id)

    def _delete_elastic_ip(self, resource: Resource) -> None:
        self._cloud.ec2.release_address(AllocationId=resource.id)

    def _delete_internet_gateway(self, resource: Resource) -> None:
        for vpc_id in resource.extra.get("vpcs", []):
            self._cloud.ec2.detach_internet_gateway(InternetGatewayId=resource.id, VpcId=vpc_id)
        self._cloud.ec2.delete_internet_gateway(InternetGatewayId=resource.id)

    def _delete_route_table(self, resource: Resource) -> None:
        for association in resource.extra.get("associations", []):
            self._cloud.ec2.disassociate_route_table(AssociationId=association)
        self._cloud.ec2.delete_route_table(RouteTableId=resource.id)

    def _delete_security_group(self, resource: Resource) -> None:
        self._cloud.ec2.delete_security_group(GroupId=resource.id)

    def _delete_subnet(self, resource: Resource) -> None:
        self._cloud.ec2.delete_subnet(SubnetId=resource.id)

    def _delete_vpc(self, resource: Resource) -> None:
        self._cloud.ec2.delete_vpc(VpcId=resource.id)

    def _delete_iam_instance_profile(self, resource: Resource) -> None:
        client = self._cloud.client("iam")
        profile = client.get_instance_profile(InstanceProfileName=resource.id)["InstanceProfile"]
        for role in profile.get("Roles", []):
            client.remove_role_from_instance_profile(
                InstanceProfileName=resource.id, RoleName=role["RoleName"]
            )
        client.delete_instance_profile(InstanceProfileName=resource.id)

    def _delete_iam_role(self, resource: Resource) -> None:
        client = self._cloud.client("iam")
        for name in client.list_role_policies(RoleName=resource.id).get("PolicyNames", []):
            client.delete_role_policy(RoleName=resource.id, PolicyName=name)
        for attached in client.list_attached_role_policies(RoleName=resource.id).get(
            "AttachedPolicies", []
        ):
            client.detach_role_policy(RoleName=resource.id, PolicyArn=attached["PolicyArn"])
        client.delete_role(RoleName=resource.id)
