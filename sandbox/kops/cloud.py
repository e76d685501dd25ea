"""What ``kops update cluster --yes`` builds in AWS (``cloud_deletion`` finds and removes it).

Everything goes through boto3 with the standard environment (``AWS_ENDPOINT_URL`` points at the
twin's moto server), so the resources are ordinary EC2/IAM/ELBv2 objects any client can see.
Resources are found again by their tags (``KubernetesCluster=NAME``) or kops's names, which makes
applying idempotent and lets deletion catch what others tagged for the cluster (the cloud
controller's load balancers and security groups).

Kept simpler than kops: instances are launched directly (no launch templates or auto scaling
groups), one per slot of each instance group, and there is no etcd volume, DNS or bastion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from sandbox.boto_sessions import shared_loader_session
from sandbox.kops import iam
from sandbox.kops.cloud_deletion import ClusterDeletion
from sandbox.kops.cloud_network import ClusterNetwork
from sandbox.kops.utils import resource_name32, tag_dict, tag_list

LIVE_INSTANCE_STATES = ["pending", "running"]
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
FALLBACK_IMAGE = "ami-0a1b2c3d4e5f60718"
UBUNTU_OWNER = "099720109477"

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)


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
        self._session = shared_loader_session(region)
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

    def spec(self, resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]

    def owned_filter(self) -> list[dict[str, Any]]:
        return [{"Name": "tag:KubernetesCluster", "Values": [self.cluster]}]

    def is_owned(self, item: dict[str, Any], name: str | None = None) -> bool:
        """Whether a described item carries the cluster's tag (and Name); filters are re-checked
        here because moto ignores tag filters on some operations (NAT gateways)."""
        tags = tag_dict(item.get("Tags"))
        return tags.get("KubernetesCluster") == self.cluster and (
            name is None or tags.get("Name") == name
        )

    def owned_items(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items = getattr(self.ec2, operation)(Filters=self.owned_filter(), **kwargs)[key]
        return [item for item in items if self.is_owned(item)]

    def find_one(self, operation: str, key: str, name: str) -> dict[str, Any] | None:
        filters = [*self.owned_filter(), {"Name": "tag:Name", "Values": [name]}]
        items = getattr(self.ec2, operation)(Filters=filters)[key]
        items = [item for item in items if self.is_owned(item, name)]
        return items[0] if items else None

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

    def network(self) -> ClusterNetwork:
        """Return what builds this cluster's VPC, subnets, gateways, routes and groups."""
        return ClusterNetwork(self)

    def deletion(self) -> ClusterDeletion:
        """Return what lists and deletes this cluster's resources (``kops delete cluster``)."""
        return ClusterDeletion(self)

    def instances(self) -> list[dict[str, Any]]:
        """Return the cluster's pending or running instances, oldest first."""
        reservations = self.ec2.describe_instances(
            Filters=[
                *self.owned_filter(),
                {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
            ]
        )["Reservations"]
        found = [i for r in reservations for i in r["Instances"] if self.is_owned(i)]
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
                *self.spec("instance", tags),
                *self.spec("volume", tags),
            ],
            **kwargs,
        )["Instances"][0]
        return dict(instance)


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
