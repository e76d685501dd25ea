"""From discovery to facts: probe targets and the facts the checks judge."""

from __future__ import annotations

from kops_nlb.core.nlb import NlbInfo, NlbInterface, TargetHealth
from kops_nlb.core.spec import EnvironmentSpec
from kops_nlb.core.verify.facts import probe_targets, verification_facts
from kops_nlb.core.verify.probe_script import ProbeTarget
from kops_nlb.core.workload import NodeInfo, ServiceInfo

NLB = NlbInfo(
    arn="arn:aws:elasticloadbalancing:ap-northeast-1:1:loadbalancer/net/a1/x",
    name="a1",
    dns_name="a1.elb.ap-northeast-1.amazonaws.com",
    scheme="internal",
    type="network",
    state="active",
    vpc_id="vpc-1",
)
INTERFACES = [
    NlbInterface(
        interface_id="eni-c",
        availability_zone="ap-northeast-1c",
        subnet_id="s-c",
        private_ip="10.0.2.9",
    ),
    NlbInterface(
        interface_id="eni-a",
        availability_zone="ap-northeast-1a",
        subnet_id="s-a",
        private_ip="10.0.1.9",
    ),
]
NODES = [
    NodeInfo(
        name="n1",
        instance_id="i-1",
        internal_ip="10.0.1.5",
        zone="ap-northeast-1a",
        control_plane=False,
        ready=True,
    ),
    NodeInfo(
        name="cp", instance_id=None, internal_ip=None, zone=None, control_plane=True, ready=True
    ),
]


def test_probe_targets_are_the_dns_name_then_each_zone_in_order() -> None:
    assert probe_targets(NLB, INTERFACES, 80) == [
        ProbeTarget(label="dns", host=NLB.dns_name, port=80),
        ProbeTarget(label="az:ap-northeast-1a", host=NLB.dns_name, port=80, resolve_ip="10.0.1.9"),
        ProbeTarget(label="az:ap-northeast-1c", host=NLB.dns_name, port=80, resolve_ip="10.0.2.9"),
    ]


def test_facts_join_targets_to_their_nodes_and_carry_the_spec() -> None:
    spec = EnvironmentSpec(external_traffic_policy="Cluster")
    facts = verification_facts(
        spec=spec,
        token="t0k",
        bastion_ip="10.0.0.5",
        probe_stdout="",
        probe_truncated=True,
        expected_probes=30,
        pod_logs=[],
        nlb=NLB,
        interfaces=INTERFACES,
        health=[
            TargetHealth(target_group="tg", instance_id="i-1", port=30080, state="healthy"),
            TargetHealth(target_group="tg", instance_id="i-9", port=30080, state="unhealthy"),
        ],
        nodes=NODES,
        service=ServiceInfo(
            uid="u",
            hostname=NLB.dns_name,
            external_traffic_policy="Cluster",
            health_check_node_port=None,
            annotations={"a": "b"},
            type="LoadBalancer",
        ),
    )
    assert [(t.instance_id, t.node_name, t.node_ip) for t in facts.targets] == [
        ("i-1", "n1", "10.0.1.5"),
        ("i-9", None, None),
    ]
    assert facts.node_ips == {"n1": "10.0.1.5"}
    assert facts.nlb is not None and facts.nlb.addresses == {
        "ap-northeast-1c": "10.0.2.9",
        "ap-northeast-1a": "10.0.1.9",
    }
    assert (facts.expected_policy, facts.expected_internal) == ("Cluster", True)
    assert (facts.expected_probes, facts.probe_output_truncated, facts.probes) == (30, True, [])
    assert facts.service.type == "LoadBalancer" and facts.service.ingress_hostname == NLB.dns_name


def test_the_canarys_probes_and_lines_are_its_own() -> None:
    from kops_nlb.core.verify.access_log import parse_line
    from kops_nlb.core.verify.evidence import PodLog
    from kops_nlb.core.verify.facts import ServiceDiscovery, canary_probe_targets
    from kops_nlb.core.verify.probe_script import probe_path, probe_user_agent

    token = "0123456789ab"
    service = ServiceInfo(
        uid="u",
        hostname=NLB.dns_name,
        external_traffic_policy="Local",
        health_check_node_port=None,
        annotations={},
        type="LoadBalancer",
    )
    canary = ServiceDiscovery(
        service=service.model_copy(update={"external_traffic_policy": "Cluster"}),
        nlb=NLB.model_copy(update={"name": "a2"}),
        interfaces=INTERFACES[:1],
        health=[],
    )
    assert [t.label for t in canary_probe_targets(canary, 80)] == [
        "canary:dns",
        "canary:az:ap-northeast-1c",
    ]

    def stdout_line(label: str, index: int, seq: int) -> str:
        ua = probe_user_agent(token, index, seq)
        return f"PROBE {label} {ua} 200 10.0.1.9 80 0.001 0"

    def log_line(remote: str, index: int, seq: int) -> str:
        return (
            f'{remote} - - [25/Nov/2026:18:21:01 +0000] "GET {probe_path(token, seq)} HTTP/1.1" '
            f'200 615 "-" "{probe_user_agent(token, index, seq)}" "-"'
        )

    records = [
        parse_line(log_line("10.0.0.5", 0, 1)),
        parse_line(log_line("10.0.1.5", 3, 2)),
        parse_line(
            '10.0.1.5 - - [25/Nov/2026:18:21:01 +0000] "GET / HTTP/1.1" 200 1 "-" "kube-probe/1.35" "-"'
        ),
    ]
    facts = verification_facts(
        spec=EnvironmentSpec(negative_control=True),
        token=token,
        bastion_ip="10.0.0.5",
        probe_stdout="\n".join([stdout_line("dns", 0, 1), stdout_line("canary:dns", 3, 2)]),
        probe_truncated=False,
        expected_probes=1,
        pod_logs=[PodLog("p", "n1", "100.96.0.2", "10.0.1.5", tuple(r for r in records if r))],
        nlb=NLB,
        interfaces=INTERFACES,
        health=[],
        nodes=NODES,
        service=service,
        canary=canary,
        canary_expected_probes=1,
    )
    assert [p.seq for p in facts.probes] == [1]
    assert [r.remote_addr for r in facts.pod_logs[0].records] == ["10.0.0.5", "10.0.1.5"]
    control = facts.negative_control
    assert control is not None and [p.label for p in control.probes] == ["canary:dns"]
    assert [r.remote_addr for r in control.pod_logs[0].records] == ["10.0.1.5"]
    assert control.service is not None and control.service.name == "nginx-canary"
    assert (control.expected_policy, control.expected_probes) == ("Cluster", 1)
    assert control.nlb is not None and control.nlb.name == "a2"
