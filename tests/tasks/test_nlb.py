"""The Service's NLB: naming, matching and health decisions as tables; lookups in moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_nlb.core.errors import ConflictError, WaitTimeout
from kops_nlb.core.spec import EnvironmentSpec, PollPolicy, Timeouts
from tasks.nlb import (
    NlbInterface,
    find_service_nlb,
    nlb_interfaces,
    nlb_target_groups,
    nlb_target_health,
    wait_for_nlb_active,
    wait_for_target_group_settings,
    wait_for_targets_healthy,
)
from tests.core.test_nlb import NAME, SERVICE_TAGS, UID

pytestmark = pytest.mark.usefixtures("no_run_logger")


# ---- moto -------------------------------------------------------------------------------


@pytest.fixture
def elbv2(aws: None, boto: Callable[[str], Any]) -> Any:
    """An ELBv2 client on moto."""
    return boto("elbv2")


def create_lb(
    elbv2: Any, kops_vpc: dict[str, str], name: str, tags: dict[str, str], **extra: Any
) -> dict[str, Any]:
    subnets = [kops_vpc["private-ap-northeast-1a"], kops_vpc["private-ap-northeast-1c"]]
    return elbv2.create_load_balancer(
        Name=name,
        Subnets=subnets,
        Scheme=extra.get("Scheme", "internal"),
        Type=extra.get("Type", "network"),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["LoadBalancers"][0]


def create_forwarded_group(
    elbv2: Any, kops_vpc: dict[str, str], lb: dict[str, Any], name: str, **extra: Any
) -> dict[str, Any]:
    """Create a TCP target group on the node port and a listener that forwards to it."""
    group: dict[str, Any] = elbv2.create_target_group(
        Name=name,
        Protocol="TCP",
        Port=30080,
        VpcId=kops_vpc["vpc"],
        TargetType=extra.get("TargetType", "instance"),
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=extra.get("Port", 80),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    return group


def test_find_by_uid_name_and_tags(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)

    found = find_service_nlb.fn(spec, UID, lb["DNSName"].upper())

    assert found is not None
    assert (found.arn, found.name, found.type, found.scheme, found.vpc_id) == (
        lb["LoadBalancerArn"],
        NAME,
        "network",
        "internal",
        kops_vpc["vpc"],
    )
    assert found.zones == ("ap-northeast-1a", "ap-northeast-1c")
    assert find_service_nlb.fn(spec, UID, "someone-else.elb.amazonaws.com") is None


def test_found_by_tags_when_the_name_differs(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    create_lb(elbv2, kops_vpc, "unrelated", {"team": "x"})
    renamed = create_lb(elbv2, kops_vpc, "renamed-by-someone", SERVICE_TAGS)
    create_lb(
        elbv2,
        kops_vpc,
        "other-cluster",
        {"kubernetes.io/service-name": "default/nginx", "kubernetes.io/cluster/other": "owned"},
    )

    by_tags = find_service_nlb.fn(spec, UID, None)
    by_tags_and_dns = find_service_nlb.fn(spec, UID, renamed["DNSName"])

    assert by_tags is not None and by_tags.arn == renamed["LoadBalancerArn"]
    assert by_tags_and_dns == by_tags


def test_not_there_yet(elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec) -> None:
    assert find_service_nlb.fn(spec, UID, None) is None


def test_wait_for_active(elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)

    active = wait_for_nlb_active.fn(spec, UID, lb["DNSName"])

    assert (active.state, active.arn) == ("active", lb["LoadBalancerArn"])


def test_wait_times_out_naming_what_is_missing(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    impatient = spec.model_copy(
        update={
            "timeouts": Timeouts(nlb_active=1),
            "poll": PollPolicy(initial=0.3, factor=1, cap=0.3),
        }
    )
    with pytest.raises(WaitTimeout, match=f"still failing: no NLB {NAME} for the Service yet"):
        wait_for_nlb_active.fn(impatient, UID, None)


def test_internet_facing_lb_for_an_internal_spec_fails_fast(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS, Scheme="internet-facing")
    with pytest.raises(ConflictError, match="is internet-facing, the spec asks for internal"):
        wait_for_nlb_active.fn(spec, UID, None)


@pytest.fixture
def nodes(kops_vpc: dict[str, str], boto: Callable[[str], Any], region: str) -> list[str]:
    """Two running node instances in the private subnets."""
    ec2 = boto("ec2")
    ids = []
    for zone in ("a", "c"):
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.medium",
            MinCount=1,
            MaxCount=1,
            SubnetId=kops_vpc[f"private-{region}{zone}"],
        )
        ids.append(reservation["Instances"][0]["InstanceId"])
    return ids


def test_target_health_of_an_lb_without_target_groups(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)
    assert nlb_target_health.fn(spec, lb["LoadBalancerArn"]) == []


def test_targets_healthy(
    elbv2: Any, kops_vpc: dict[str, str], nodes: list[str], spec: EnvironmentSpec
) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)
    group = create_forwarded_group(elbv2, kops_vpc, lb, "k8s-default-nginx-0123456789")
    elbv2.register_targets(
        TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": i, "Port": 30080} for i in nodes]
    )

    health = wait_for_targets_healthy.fn(spec, lb["LoadBalancerArn"], nodes[:1])

    assert sorted((t.instance_id, t.port, t.state) for t in health) == sorted(
        (i, 30080, "healthy") for i in nodes
    )
    assert {t.target_group for t in health} == {"k8s-default-nginx-0123456789"}


def test_target_group_settings_are_read_from_aws_not_from_annotations(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)
    for port, name, target_type in (
        (80, "k8s-default-nginx-aaaaaaaaaa", "instance"),
        (81, "k8s-default-nginx-bbbbbbbbbb", "ip"),
    ):
        group = create_forwarded_group(elbv2, kops_vpc, lb, name, TargetType=target_type, Port=port)
        if target_type == "ip":
            elbv2.modify_target_group_attributes(
                TargetGroupArn=group["TargetGroupArn"],
                Attributes=[
                    {"Key": "preserve_client_ip.enabled", "Value": "false"},
                    {"Key": "proxy_protocol_v2.enabled", "Value": "true"},
                ],
            )

    settings = nlb_target_groups.fn(spec, lb["LoadBalancerArn"])

    assert [(s.name, s.target_type, s.protocol) for s in settings] == [
        ("k8s-default-nginx-aaaaaaaaaa", "instance", "TCP"),
        ("k8s-default-nginx-bbbbbbbbbb", "ip", "TCP"),
    ]
    assert (settings[1].preserve_client_ip, settings[1].proxy_protocol_v2) == (False, True)
    assert settings[0].proxy_protocol_v2 is False


def test_provision_waits_for_the_asked_target_group_attributes(
    elbv2: Any, kops_vpc: dict[str, str], spec: EnvironmentSpec
) -> None:
    lb = create_lb(elbv2, kops_vpc, NAME, SERVICE_TAGS)
    group = create_forwarded_group(
        elbv2, kops_vpc, lb, "k8s-default-nginx-cccccccccc", TargetType="ip"
    )
    elbv2.modify_target_group_attributes(  # the default for ip targets
        TargetGroupArn=group["TargetGroupArn"],
        Attributes=[{"Key": "preserve_client_ip.enabled", "Value": "false"}],
    )
    preserved = spec.model_copy(
        update={"preserve_client_ip": True, "timeouts": Timeouts(nlb_active=1)}
    )
    with pytest.raises(
        WaitTimeout, match=r"preserve_client_ip\.enabled is False, the spec asks for True"
    ):
        wait_for_target_group_settings.fn(preserved, lb["LoadBalancerArn"])
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group["TargetGroupArn"],
        Attributes=[{"Key": "preserve_client_ip.enabled", "Value": "true"}],
    )
    [applied] = wait_for_target_group_settings.fn(preserved, lb["LoadBalancerArn"])
    assert applied.preserve_client_ip is True


def test_nlb_interfaces_by_description(
    kops_vpc: dict[str, str], spec: EnvironmentSpec, boto: Callable[[str], Any], region: str
) -> None:
    ec2 = boto("ec2")
    arn = f"arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/net/{NAME}/50dc6c495c0c9188"
    for zone in ("c", "a"):
        ec2.create_network_interface(
            SubnetId=kops_vpc[f"private-{region}{zone}"],
            Description=f"ELB net/{NAME}/50dc6c495c0c9188",
        )
    ec2.create_network_interface(
        SubnetId=kops_vpc[f"private-{region}a"], Description="ELB net/other/1"
    )

    interfaces = nlb_interfaces.fn(spec, arn)

    assert [(i.availability_zone, i.subnet_id) for i in interfaces] == [
        (f"{region}a", kops_vpc[f"private-{region}a"]),
        (f"{region}c", kops_vpc[f"private-{region}c"]),
    ]
    assert all(
        isinstance(i, NlbInterface) and i.private_ip.startswith("172.20.") for i in interfaces
    )


# ---- exact requests ---------------------------------------------------------------------


def described_lb(index: int) -> dict[str, Any]:
    return {
        "LoadBalancerArn": f"arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/lb{index}/{index:016x}",
        "LoadBalancerName": f"lb{index}",
        "DNSName": f"lb{index}.elb.ap-northeast-1.amazonaws.com",
        "Type": "network",
        "Scheme": "internal",
        "State": {"Code": "active"},
        "VpcId": "vpc-1",
    }


def test_scan_reads_tags_in_batches_of_twenty(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["elbv2"]
    lbs = [described_lb(i) for i in range(21)]
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    stub.add_client_error(
        "describe_load_balancers", "LoadBalancerNotFound", "not found", 400, {"Names": [NAME]}
    )
    stub.add_response("describe_load_balancers", {"LoadBalancers": lbs}, {})
    stub.add_response(
        "describe_tags",
        {
            "TagDescriptions": [
                {"ResourceArn": a, "Tags": [{"Key": "team", "Value": "x"}]} for a in arns[:20]
            ]
        },
        {"ResourceArns": arns[:20]},
    )
    stub.add_response(
        "describe_tags",
        {
            "TagDescriptions": [
                {
                    "ResourceArn": arns[20],
                    "Tags": [{"Key": k, "Value": v} for k, v in SERVICE_TAGS.items()],
                }
            ]
        },
        {"ResourceArns": arns[20:]},
    )

    found = find_service_nlb.fn(spec, UID, None)

    assert found is not None and found.name == "lb20"


def test_two_tagged_lbs_are_a_conflict(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["elbv2"]
    lbs = [described_lb(1), described_lb(2)]
    stub.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "not found", 400)
    stub.add_response("describe_load_balancers", {"LoadBalancers": lbs})
    tags = [{"Key": k, "Value": v} for k, v in SERVICE_TAGS.items()]
    stub.add_response(
        "describe_tags",
        {"TagDescriptions": [{"ResourceArn": lb["LoadBalancerArn"], "Tags": tags} for lb in lbs]},
    )

    with pytest.raises(ConflictError, match=r"several load balancers.*\['lb1', 'lb2'\]"):
        find_service_nlb.fn(spec, UID, None)


def test_wait_for_targets_reports_progress_until_nginx_nodes_are_healthy(
    aws_stubs: Any, spec: EnvironmentSpec
) -> None:
    stub = aws_stubs["elbv2"]
    lb_arn = described_lb(1)["LoadBalancerArn"]
    group = {
        "TargetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-1:1:targetgroup/tg/1",
        "TargetGroupName": "tg",
    }

    def queue(state_1: str) -> None:
        stub.add_response(
            "describe_target_groups", {"TargetGroups": [group]}, {"LoadBalancerArn": lb_arn}
        )
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": "i-1", "Port": 30080}, "TargetHealth": {"State": state_1}},
                    {
                        "Target": {"Id": "i-2", "Port": 30080},
                        "TargetHealth": {
                            "State": "unhealthy",
                            "Reason": "Target.FailedHealthChecks",
                        },
                    },
                ]
            },
            {"TargetGroupArn": group["TargetGroupArn"]},
        )

    stub.add_client_error("describe_target_groups", "TargetGroupNotFound", "none yet", 400)
    queue("initial")
    queue("healthy")

    health = wait_for_targets_healthy.fn(spec, lb_arn, ["i-1"])

    assert [(t.instance_id, t.state, t.reason) for t in health] == [
        ("i-1", "healthy", None),
        ("i-2", "unhealthy", "Target.FailedHealthChecks"),
    ]


# ---- the local twin (NLB-shaped ARN and one network interface per zone) --------------------


def test_twin_nlb_active_and_its_interfaces(
    twin_kops_vpc: dict[str, str], spec: EnvironmentSpec, boto: Callable[[str], Any], region: str
) -> None:
    lb = create_lb(boto("elbv2"), twin_kops_vpc, NAME, SERVICE_TAGS)

    active = wait_for_nlb_active.fn(spec, UID, lb["DNSName"])
    interfaces = nlb_interfaces.fn(spec, active.arn)

    assert f":loadbalancer/net/{NAME}/" in active.arn
    assert [(i.availability_zone, i.subnet_id) for i in interfaces] == [
        (f"{region}a", twin_kops_vpc[f"private-{region}a"]),
        (f"{region}c", twin_kops_vpc[f"private-{region}c"]),
    ]
    assert interfaces[0].private_ip.startswith("172.20.")  # inside 172.20.32.0/19
    assert nlb_target_health.fn(spec, active.arn) == []


def test_nlb_wait_is_one_call_per_look_once_found(aws_stubs: Any, spec: EnvironmentSpec) -> None:
    stub = aws_stubs["elbv2"]
    provisioning = {**described_lb(1), "LoadBalancerName": NAME, "State": {"Code": "provisioning"}}
    arn = provisioning["LoadBalancerArn"]
    tags = [{"Key": k, "Value": v} for k, v in SERVICE_TAGS.items()]
    stub.add_response(
        "describe_load_balancers", {"LoadBalancers": [provisioning]}, {"Names": [NAME]}
    )
    stub.add_response(
        "describe_tags",
        {"TagDescriptions": [{"ResourceArn": arn, "Tags": tags}]},
        {"ResourceArns": [arn]},
    )
    # From the second look on: DescribeLoadBalancers by ARN only, no tags, no name lookup.
    stub.add_response(
        "describe_load_balancers", {"LoadBalancers": [provisioning]}, {"LoadBalancerArns": [arn]}
    )
    active = {**provisioning, "State": {"Code": "active"}}
    stub.add_response(
        "describe_load_balancers", {"LoadBalancers": [active]}, {"LoadBalancerArns": [arn]}
    )

    info = wait_for_nlb_active.fn(spec, UID, None)

    assert (info.arn, info.state) == (arn, "active")
