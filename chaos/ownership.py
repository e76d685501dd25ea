"""Ownership: another cluster's resources, resources only shared with ours, and untagged
look-alikes with our names stand beside our environment; its teardown (with the sweep) must
leave every one of them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.lifecycle import Life, first_line, tear_down
from chaos.report import Row, Section
from chaos.twin import ChaosTwin
from flows.provision import provision
from kops_nlb.core.spec import EnvironmentSpec

OURS = "owned.k8s.local"
OTHER = "other.k8s.local"
COLUMNS = ("resource", "whose", "tags", "after our teardown")
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class Bystander:
    """One resource that is not ours, and how to tell whether it is still there."""

    label: str
    whose: str
    tags: dict[str, str]
    exists: Callable[[], bool]


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _ec2_exists(twin: ChaosTwin, kind: str, resource_id: str) -> Callable[[], bool]:
    ec2 = twin.client("ec2")

    def exists() -> bool:
        if kind == "vpc":
            return bool(
                ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [resource_id]}])["Vpcs"]
            )
        if kind == "sg":
            found = ec2.describe_security_groups(
                Filters=[{"Name": "group-id", "Values": [resource_id]}]
            )
            return bool(found["SecurityGroups"])
        reservations = ec2.describe_instances(InstanceIds=[resource_id])["Reservations"]
        return any(
            i["State"]["Name"] not in ("terminated", "shutting-down")
            for r in reservations
            for i in r["Instances"]
        )

    return exists


def _network(
    twin: ChaosTwin, label: str, whose: str, tags: dict[str, str], cidr: str
) -> list[Bystander]:
    """Make a VPC, a subnet, a security group and an instance, all with ``tags``."""
    ec2 = twin.client("ec2")
    spec = [{"ResourceType": "vpc", "Tags": _tag_list(tags)}]
    vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=spec)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock=cidr.replace("/16", "/24"),
        AvailabilityZone="ap-northeast-1a",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list(tags)}],
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"nodes.{OURS}",
        Description="a look-alike of a kops group",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tag_list(tags)}],
    )["GroupId"]
    image = twin.client("ssm").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )["Parameter"]["Value"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tag_list(tags)}],
    )["Instances"][0]["InstanceId"]
    return [
        Bystander(f"{label}: VPC", whose, tags, _ec2_exists(twin, "vpc", vpc)),
        Bystander(
            f"{label}: security group `nodes.{OURS}`", whose, tags, _ec2_exists(twin, "sg", group)
        ),
        Bystander(f"{label}: instance", whose, tags, _ec2_exists(twin, "instance", instance)),
    ]


def _load_balancer(
    twin: ChaosTwin, name: str, whose: str, tags: dict[str, str], subnet_vpc: str
) -> Bystander:
    ec2, elbv2 = twin.client("ec2"), twin.client("elbv2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [subnet_vpc]}])["Subnets"]
    arn = elbv2.create_load_balancer(
        Name=name,
        Type="network",
        Scheme="internal",
        Subnets=[s["SubnetId"] for s in subnets],
        **({"Tags": _tag_list(tags)} if tags else {}),
    )["LoadBalancers"][0]["LoadBalancerArn"]

    def exists() -> bool:
        return any(
            lb["LoadBalancerArn"] == arn for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        )

    return Bystander(f"NLB `{name}`", whose, tags, exists)


def _role(twin: ChaosTwin, name: str, whose: str, tags: dict[str, str]) -> Bystander:
    iam = twin.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST), Tags=_tag_list(tags))

    def exists() -> bool:
        return any(r["RoleName"] == name for r in iam.list_roles()["Roles"])

    return Bystander(f"IAM role `{name}`", whose, tags, exists)


def _bucket(twin: ChaosTwin, name: str, whose: str) -> Bystander:
    s3 = twin.client("s3")
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )

    def exists() -> bool:
        return any(b["Name"] == name for b in s3.list_buckets()["Buckets"])

    return Bystander(f"S3 bucket `{name}`", whose, {}, exists)


def bystanders(twin: ChaosTwin) -> list[Bystander]:
    """Make every resource that is not ours, beside where ours will be."""
    other = {
        "KubernetesCluster": OTHER,
        f"kubernetes.io/cluster/{OTHER}": "owned",
        "Name": f"nodes.{OTHER}",
    }
    shared = {f"kubernetes.io/cluster/{OURS}": "shared", "Name": "shared-network"}
    lookalike = {"Name": OURS}
    found = _network(twin, "another cluster's", OTHER, other, "127.252.0.0/16")
    found += _network(twin, "shared with ours", "shared", shared, "127.253.0.0/16")
    found += _network(
        twin, "untagged look-alike", "nobody (named like ours)", lookalike, "127.254.0.0/16"
    )
    vpcs = twin.client("ec2").describe_vpcs(
        Filters=[{"Name": "cidr", "Values": ["127.252.0.0/16"]}]
    )
    vpc = vpcs["Vpcs"][0]["VpcId"]
    found.append(
        _load_balancer(twin, "other-k8s-local-api", OTHER, {"KubernetesCluster": OTHER}, vpc)
    )
    found.append(
        _load_balancer(twin, "owned-k8s-local-lookalike", "nobody (named like ours)", {}, vpc)
    )
    found.append(_role(twin, f"masters.{OTHER}", OTHER, {"KubernetesCluster": OTHER}))
    found.append(_role(twin, f"{OURS}-ci", "nobody (named like ours)", {}))
    found.append(_bucket(twin, "kops-state-other-cluster", OTHER))
    return found


def run(twin: ChaosTwin, base: EnvironmentSpec) -> Section:
    """Set the bystanders, run our environment's life, and check each bystander."""
    section = Section(
        title="Ownership",
        intro=(
            f"Before `{OURS}` is provisioned, the resources below are made beside it: "
            f"`{OTHER}`'s (tagged for it), some tagged `kubernetes.io/cluster/{OURS}=shared` "
            "(used by our cluster, never its to delete), and untagged look-alikes with our "
            "names. Then our environment is provisioned and torn down (kops delete, the sweep, "
            "the state bucket). Every one of them must still be there."
        ),
        columns=COLUMNS,
    )
    started = time.monotonic()
    spec = base.model_copy(update={"cluster_name": OURS})
    around = bystanders(twin)
    life = Life()
    try:
        provision(spec=spec)
    except Exception as exc:  # noqa: BLE001 - the outcome is the measurement
        life.broke.append(f"provision failed: {first_line(exc)}")
    tear_down(spec, life)
    for bystander in around:
        kept = bystander.exists()
        broke = [] if kept else ["deleted by our teardown"]
        broke += life.broke
        section.rows.append(
            Row(
                cells=(
                    bystander.label,
                    bystander.whose,
                    ", ".join(f"{k}={v}" for k, v in bystander.tags.items()) or "none",
                    "still there" if kept else "DELETED",
                ),
                held=not broke,
                broke="; ".join(broke),
            )
        )
    ours = sum(len(ids) for ids in life.left.values())
    section.rows.append(
        Row(
            cells=(f"everything tagged for `{OURS}`", OURS, "ours", f"{ours} left"),
            held=not life.broke and life.steps.get("teardown") == "ok",
            broke="; ".join(life.broke) or "teardown did not complete",
        )
    )
    section.seconds = time.monotonic() - started
    return section
