"""The real AWS cloud controller manager (cloud-provider-aws 1.36.2, `make upstream`) against the
twin's AWS and a real kube-apiserver: the product's Service becomes the internal NLB the product
expects to find, and deleting the Service deletes it.

The controller runs as kops runs it on a control-plane instance (`--cloud-provider=aws`, the
cluster's name, no cloud routes, kops's cloud config), reading who it is from the twin's instance
metadata endpoint for that instance.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client

from kops_nlb.aws.elbv2 import find_service_nlb, target_group_settings
from kops_nlb.core.manifests import nlb_service
from kops_nlb.core.naming import nlb_name_for_service_uid
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.kube.client import kube_api
from sandbox.aws import AwsServer
from sandbox.aws.instance_metadata import InstanceMetadataServer
from sandbox.controlplane.boot import free_port
from sandbox.controlplane.cloud_controller import (
    KOPS_CLOUD_CONFIG,
    CloudSettings,
    cloud_controller_argv,
    cloud_controller_env,
)
from sandbox.kubelets.cluster_host import ClusterHost
from tests.twin_kube import loopback_prefix, running_cluster, write_admin_kubeconfig

pytestmark = pytest.mark.contract

REGION = "ap-northeast-1"
CLUSTER = "ccm.k8s.local"
CCM_VERSION = "1.36.2"


def ccm_binary() -> Path:
    default = (
        Path.home() / ".cache/kops-nlb-flows/bin" / f"aws-cloud-controller-manager-{CCM_VERSION}"
    )
    path = Path(os.environ.get("KOPS_NLB_CCM_BIN", default))
    if not path.is_file():
        pytest.fail(f"{path} is missing: `make upstream` builds the AWS cloud controller manager")
    return path


@dataclass
class CloudWorld:
    aws: AwsServer
    ec2: Any
    elbv2: Any
    internal_subnets: list[str]
    instances: list[dict[str, Any]]
    cluster: ClusterHost
    kubeconfig: str


def _cloud(ec2: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """A kops-like VPC: two private subnets tagged for internal load balancers, a control-plane
    instance and two nodes, all tagged as kops tags them."""
    owned = [
        {"Key": "KubernetesCluster", "Value": CLUSTER},
        {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"},
    ]
    prefix = loopback_prefix()

    def tagged(kind: str, *extra: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [*owned, *extra]}]

    vpc = ec2.create_vpc(CidrBlock=f"{prefix}.128.0/17", TagSpecifications=tagged("vpc"))
    vpc_id = vpc["Vpc"]["VpcId"]
    internal = {"Key": "kubernetes.io/role/internal-elb", "Value": "1"}
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"{prefix}.{third}.0/20",
            AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=tagged("subnet", internal),
        )["Subnet"]["SubnetId"]
        for third, zone in ((128, "a"), (144, "c"))
    ]
    group = ec2.create_security_group(
        GroupName=f"nodes.{CLUSTER}", Description="nodes", VpcId=vpc_id
    )["GroupId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = []
    for subnet, role in ((subnets[0], "control-plane"), (subnets[0], "node"), (subnets[1], "node")):
        made = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.medium",
            SubnetId=subnet,
            SecurityGroupIds=[group],
            TagSpecifications=tagged("instance", {"Key": f"k8s.io/role/{role}", "Value": "1"}),
        )
        ids.append(made["Instances"][0]["InstanceId"])
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    by_id = {i["InstanceId"]: i for r in found for i in r["Instances"]}
    return subnets, [by_id[i] for i in ids]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudWorld]:
    patch = pytest.MonkeyPatch()
    aws = AwsServer(region=REGION)
    url = aws.start()
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "twin",
        "AWS_SECRET_ACCESS_KEY": "twin",
    }.items():
        patch.setenv(name, value)
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets, instances = _cloud(ec2)
    home = tmp_path_factory.mktemp("ccm")
    pod_ranges = {
        i["InstanceId"]: f"{loopback_prefix()}.{200 + n}.0/24" for n, i in enumerate(instances)
    }
    try:
        with running_cluster(home / "cluster", CLUSTER) as cluster:
            _join(cluster, instances, pod_ranges.__getitem__)
            kubeconfig = write_admin_kubeconfig(cluster, home / "kubeconfig")
            with _controller(home, kubeconfig, ec2, instances[0]):
                yield CloudWorld(
                    aws,
                    ec2,
                    boto3.client("elbv2", region_name=REGION),
                    subnets,
                    instances,
                    cluster,
                    kubeconfig,
                )
    finally:
        patch.undo()
        aws.stop()


def _join(cluster: ClusterHost, instances: list[dict[str, Any]], pod_range: Any) -> None:
    core = client.CoreV1Api(cluster.api)
    deadline = time.monotonic() + 60
    while len(core.list_node().items) < len(instances):
        if time.monotonic() > deadline:
            pytest.fail("the simulated kubelets did not register every instance within 60 s")
        cluster.sync(instances, pod_range)
        time.sleep(0.5)


class _controller:
    """The aws-cloud-controller-manager process, as kops runs it on the control plane."""

    def __init__(self, home: Path, kubeconfig: str, ec2: Any, control_plane: dict[str, Any]):
        self.home, self.kubeconfig = home, kubeconfig
        instance_id = control_plane["InstanceId"]
        self.imds = InstanceMetadataServer(
            lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
                "Instances"
            ][0],
            REGION,
        )

    def __enter__(self) -> subprocess.Popen[bytes]:
        self.imds.start()
        config = self.home / "cloud.config"
        config.write_text(KOPS_CLOUD_CONFIG)
        argv = cloud_controller_argv(
            ccm_binary(),
            cluster=CLUSTER,
            cloud_config=config,
            kubeconfig=Path(self.kubeconfig),
            port=free_port(),
        )
        settings = CloudSettings(
            aws_url=os.environ["AWS_ENDPOINT_URL"],
            region=REGION,
            metadata_url=self.imds.url,
            access_key_id="twin",
            secret_access_key="twin",
        )
        env = cloud_controller_env(settings, os.environ.get("PATH", ""))
        self.log = (self.home / "ccm.log").open("wb")
        self.process = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        return self.process

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()
        self.imds.stop()


def eventually(what: str, look: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = look()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"not within {timeout:.0f} s: {what}")


def test_the_products_service_becomes_the_internal_nlb_the_product_finds(
    world: CloudWorld,
) -> None:
    spec = EnvironmentSpec(cluster_name=CLUSTER, namespace="default")
    core = client.CoreV1Api(kube_api(world.kubeconfig))
    made = core.create_namespaced_service("default", nlb_service(spec))

    def hostname() -> str | None:
        ingress = core.read_namespaced_service("nginx", "default").status.load_balancer.ingress
        return ingress[0].hostname if ingress else None

    dns_name = eventually("the Service's ingress hostname", hostname)
    reasons = {e.reason for e in core.list_namespaced_event("default").items}
    assert {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= reasons

    nlb = find_service_nlb(
        REGION,
        service="default/nginx",
        cluster=CLUSTER,
        service_uid=made.metadata.uid,
        hostname=dns_name,
    )
    assert nlb is not None, "the product does not find the NLB the real controller made"
    assert nlb.name == nlb_name_for_service_uid(made.metadata.uid)
    assert (nlb.scheme, nlb.type, nlb.dns_name) == ("internal", "network", dns_name)
    described = world.elbv2.describe_load_balancers(Names=[nlb.name])["LoadBalancers"][0]
    assert sorted(z["SubnetId"] for z in described["AvailabilityZones"]) == sorted(
        world.internal_subnets
    )

    service = core.read_namespaced_service("nginx", "default")
    [group] = world.elbv2.describe_target_groups(LoadBalancerArn=nlb.arn)["TargetGroups"]
    assert group["TargetGroupName"].startswith("k8s-default-nginx-")
    assert (group["Protocol"], group["Port"]) == ("TCP", service.spec.ports[0].node_port)
    assert (group["HealthCheckProtocol"], group["HealthCheckPath"]) == ("HTTP", "/healthz")
    assert group["HealthCheckPort"] == str(service.spec.health_check_node_port)
    [settings] = target_group_settings(REGION, nlb.arn)
    assert (settings.target_type, settings.preserve_client_ip) == ("instance", True)
    assert not settings.proxy_protocol_v2
    registered = {
        d["Target"]["Id"]
        for d in world.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])[
            "TargetHealthDescriptions"
        ]
    }
    assert registered == {i["InstanceId"] for i in world.instances[1:]}  # the two nodes

    core.delete_namespaced_service("nginx", "default")
    eventually(
        "the NLB deleted after its Service",
        lambda: not world.elbv2.describe_load_balancers()["LoadBalancers"],
    )
