"""Every ``kops create cluster`` argv the product builds, run by real kops 1.36.2 as a dry run.

The product's argv ends with ``--yes``; ``realkops.dry_run_argv`` drops that one flag and adds
``--dry-run -o yaml`` (plus the local channel file), so kops validates every flag and value and
prints the Cluster and InstanceGroups it would create, without creating anything. A flag kops
refuses fails here with kops's own message; a deprecated one fails too (cobra still accepts
``--master-count`` with a warning, and the product promises undeprecated flags only).
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pytest
import yaml

from sandbox.aws.gaps.ec2 import CANONICAL_IMAGES, CANONICAL_OWNER_ID
from tests.contract import realkops, rendered
from tests.contract.product import (
    EnvironmentSpec,
    cloud_labels,
    control_plane_zones,
    create_cluster_argv,
)
from tests.contract.realkops import RealKops

pytestmark = pytest.mark.contract

THREE_ZONES = ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
NETWORKING_KEYS = {  # --networking value -> key under spec.networking
    "calico": "calico",
    "cilium": "cilium",
    "amazonvpc": "amazonvpc",
    "flannel": "flannel",
    "kindnet": "kindnet",
    "kube-router": "kuberouter",
}
DNS_TYPES = {"none": "None", "public": "Public", "private": "Private"}

HOSTED_ZONE = "example.com"
PRIVATE_ZONE = "example.internal"

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "one-zone": {"zones": ("ap-northeast-1a",)},
    "three-zones": {"zones": THREE_ZONES},
    "control-plane-3-over-2-zones": {"control_plane_count": 3},
    "control-plane-3-over-3-zones": {"control_plane_count": 3, "zones": THREE_ZONES},
    "control-plane-5-over-3-zones": {"control_plane_count": 5, "zones": THREE_ZONES},
    "nodes-and-sizes": {
        "node_count": 5,
        "node_size": "m5.large",
        "control_plane_size": "c5.xlarge",
        "node_volume_size": 64,
    },
    "one-node-two-zones": {"node_count": 1},
    "kubernetes-1.33": {"kubernetes_version": "1.33.4"},
    "kubernetes-1.34": {"kubernetes_version": "1.34.2"},
    "kubernetes-1.36": {"kubernetes_version": "v1.36.0"},
    **{f"networking-{value}": {"networking": value} for value in NETWORKING_KEYS},
    "topology-public": {"topology": "public"},
    # A DNS other than none needs the name's hosted zone (kops looks it up even in a dry run).
    "dns-public": {"dns": "public", "cluster_name": f"nlb-demo.{HOSTED_ZONE}"},
    "dns-private": {"dns": "private", "cluster_name": f"nlb-demo.{PRIVATE_ZONE}"},
    "network-cidr": {"network_cidr": IPv4Network("10.42.0.0/16")},
    "tags": {"extra_tags": {"cost-center": "a=b", "owner": 'J "D" Doe', "team": "platform"}},
    "load-balancer-controller": {"load_balancer_controller": "aws-load-balancer-controller"},
}


def _render(real_kops: RealKops, spec: EnvironmentSpec, state_store: str) -> rendered.Rendered:
    argv = realkops.dry_run_argv(create_cluster_argv(spec, state_store), real_kops.channel)
    run = real_kops(*argv)
    assert run.code == 0, f"real kops refused the product's argv\n{run.explain()}"
    deprecated = rendered.deprecated_flags(run.err)
    assert deprecated == [], f"real kops warned of deprecated flags {deprecated}\n{run.explain()}"
    return rendered.parse(run.out)


Case = tuple[EnvironmentSpec, rendered.Rendered]


@pytest.fixture(scope="module")
def module_state_store(twin_aws: Any) -> str:
    """One state-store bucket for every dry run (a dry run writes nothing into it)."""
    import boto3

    bucket = "kops-state-dry-runs"
    boto3.client(
        "s3",
        endpoint_url=twin_aws.url,
        region_name="ap-northeast-1",
        aws_access_key_id=realkops.STATE_ACCESS_KEY,
        aws_secret_access_key=realkops.STATE_ACCESS_KEY,
    ).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    twin = {
        "endpoint_url": twin_aws.url,
        "region_name": "ap-northeast-1",
        "aws_access_key_id": "twin",
        "aws_secret_access_key": "twin",
    }
    route53 = boto3.client("route53", **twin)
    route53.create_hosted_zone(Name=f"{HOSTED_ZONE}.", CallerReference="dry-runs")
    vpc = boto3.client("ec2", **twin).create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    route53.create_hosted_zone(
        Name=f"{PRIVATE_ZONE}.",
        CallerReference="dry-runs-private",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "ap-northeast-1", "VPCId": vpc},
    )
    return f"s3://{bucket}"


@pytest.fixture(params=sorted(VARIANTS), scope="module")
def case(request: pytest.FixtureRequest, real_kops: RealKops, module_state_store: str) -> Case:
    """One spec variant and what real kops rendered for it (kops runs once per variant)."""
    spec = EnvironmentSpec(**VARIANTS[request.param])
    return spec, _render(real_kops, spec, module_state_store)


def test_the_cluster_is_the_specs(case: Case) -> None:
    spec, out = case
    assert out.cluster["metadata"]["name"] == spec.cluster_name
    assert out.spec["cloudProvider"] == "aws"
    assert out.spec["kubernetesVersion"].removeprefix("v") == spec.kubernetes_version
    assert list(out.spec["networking"]) == [NETWORKING_KEYS[spec.networking]]
    assert out.spec["topology"]["dns"]["type"] == DNS_TYPES[spec.dns]
    assert out.spec["cloudLabels"] == cloud_labels(spec)
    if spec.network_cidr is not None:
        assert out.spec["networkCIDR"] == str(spec.network_cidr)
    addon = spec.load_balancer_controller == "aws-load-balancer-controller"
    assert out.spec.get("awsLoadBalancerController") == ({"enabled": True} if addon else None)
    assert out.spec.get("certManager") == ({"enabled": True} if addon else None)


def test_the_subnets_follow_zones_and_topology(case: Case) -> None:
    spec, out = case
    by_type: dict[str, list[str]] = {}
    for subnet in out.spec["subnets"]:
        by_type.setdefault(subnet["type"], []).append(subnet["zone"])
    if spec.topology == "private":
        assert by_type == {"Private": list(spec.zones), "Utility": list(spec.zones)}
        assert out.spec["api"]["loadBalancer"]["class"] == "Network"
    else:
        assert by_type == {"Public": list(spec.zones)}


def test_the_control_plane_groups_match_count_zones_and_size(case: Case) -> None:
    spec, out = case
    groups = out.groups(rendered.CONTROL_PLANE_ROLE)
    assert sum(g["spec"]["minSize"] for g in groups) == spec.control_plane_count
    assert sum(g["spec"]["maxSize"] for g in groups) == spec.control_plane_count
    assert {g["spec"]["machineType"] for g in groups} == {spec.control_plane_size}
    zones = set().union(*(out.subnet_zones(g) for g in groups))
    assert zones == set(control_plane_zones(spec))
    names = {g["metadata"]["name"] for g in groups}
    for etcd in out.spec["etcdClusters"]:
        assert sorted(m["instanceGroup"] for m in etcd["etcdMembers"]) == sorted(names)


def test_the_node_groups_match_count_zones_size_and_volume(case: Case) -> None:
    spec, out = case
    groups = out.groups(rendered.NODE_ROLE)
    assert sum(g["spec"]["minSize"] for g in groups) == spec.node_count
    assert sum(g["spec"]["maxSize"] for g in groups) == spec.node_count
    assert {g["spec"]["machineType"] for g in groups} == {spec.node_size}
    assert {g["spec"]["rootVolumeSize"] for g in groups} == {spec.node_volume_size}
    assert set().union(*(out.subnet_zones(g) for g in groups)) == set(spec.zones)


def test_every_group_boots_an_image_the_twin_has(case: Case) -> None:
    """The channel's image for amd64 is one the twin's EC2 serves (moto gap 19)."""
    _, out = case
    amd64 = f"{CANONICAL_OWNER_ID}/{CANONICAL_IMAGES[0][0]}"
    assert {g["spec"]["image"] for g in out.instance_groups} == {amd64}


def test_the_twins_canonical_images_are_the_ones_the_channel_names(real_kops: RealKops) -> None:
    """moto gap 19 serves exactly the Ubuntu images kops 1.36.2's `stable` channel names."""
    channel = yaml.safe_load(real_kops.channel.read_text())
    names = {image["name"] for image in channel["spec"]["images"]}
    for name, _ in CANONICAL_IMAGES:
        assert f"{CANONICAL_OWNER_ID}/{name}" in names
