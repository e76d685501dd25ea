"""The NLB's data path: per-AZ listeners, instance targets, kube-proxy, and what pods log."""

from __future__ import annotations

import re
import socket
from dataclasses import replace

import pytest
from dataplane_support import CLIENT_IP, Net, access_lines, curl, pod_spec, raw_exchange

from sandbox.dataplane.lb_plan import node_endpoints, reachable_targets, upstream_source
from sandbox.dataplane.nlb import Endpoint, LoadBalancerPlan, NlbDataPlane, TargetNode
from sandbox.dataplane.pods import PodServers

LB = "a0123456789abcdef0123456789abcde"
GET = b"GET / HTTP/1.0\r\n\r\n"


class Scene:
    """Two zones, a node and an nginx pod in each, an NLB interface in each zone."""

    def __init__(self, net: Net, pods: PodServers, nlb: NlbDataPlane) -> None:
        self.net, self.pods, self.nlb = net, pods, nlb
        self.if_a, self.if_b = net.vpc(101), net.vpc(102)
        self.node_a = TargetNode("node-a", net.vpc(11), "zone-a", healthy=True)
        self.node_b = TargetNode("node-b", net.vpc(12), "zone-b", healthy=True)
        self.pod_a = Endpoint(net.pod(2), 80, "node-a", ready=True)
        self.pod_b = Endpoint(net.pod(3), 80, "node-b", ready=True)
        assert pods.start(pod_spec("web-a", self.pod_a.ip, node="node-a"))
        assert pods.start(pod_spec("web-b", self.pod_b.ip, node="node-b"))

    def plan(self, policy: str = "Local", **changes: object) -> LoadBalancerPlan:
        base = LoadBalancerPlan(
            name=LB,
            listeners=((self.if_a, 80, "zone-a"), (self.if_b, 80, "zone-b")),
            targets=(self.node_a, self.node_b),
            endpoints=(self.pod_a, self.pod_b),
            traffic_policy=policy,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    def seen_by(self, pod: str) -> list[str]:
        text = self.pods.logs(
            namespace="default", name=pod, since=None, tail_lines=None, timestamps=False
        )
        return [line.split(" ", 1)[0] for line in access_lines(text)]


@pytest.fixture
def scene(net: Net, pods: PodServers, nlb: NlbDataPlane) -> Scene:
    return Scene(net, pods, nlb)


def _ok(result: object) -> bool:
    return bool(re.fullmatch(r"200 \d+", getattr(result, "stdout", "")))


def test_local_preserves_the_client_ip_and_stays_on_the_node(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Local")])
    for _ in range(4):
        assert _ok(curl(f"http://{scene.if_a}/", source=CLIENT_IP))
    assert scene.seen_by("web-a") == [CLIENT_IP] * 4  # the bastion's own address
    assert scene.seen_by("web-b") == []  # only pods on the node the NLB picked
    counters = scene.nlb.counters()
    assert counters.listeners == {(LB, scene.if_a, 80): 4}
    assert counters.targets == {(LB, "node-a"): 4}
    assert counters.endpoints == {(LB, scene.pod_a.ip, 80): 4}
    assert {f.source_ip for f in scene.nlb.flows()} == {CLIENT_IP}


def test_local_node_without_a_local_endpoint_resets(scene: Scene) -> None:
    # node-b still counts as healthy here, so the NLB sends it traffic kube-proxy cannot place
    scene.nlb.apply([scene.plan("Local", endpoints=(scene.pod_a,))])
    result = curl(f"http://{scene.if_b}/")
    assert result.returncode in (7, 52, 55, 56), result  # refused / reset, never an answer
    with pytest.raises((ConnectionResetError, ConnectionRefusedError)):
        reply = raw_exchange(scene.if_b, 80, GET)
        if reply == b"":
            raise ConnectionResetError("closed without data")
    assert scene.nlb.counters().dropped == {(LB, "no-local-endpoint"): 2}
    assert scene.seen_by("web-a") == []


def test_cluster_snats_to_the_node_and_spreads_over_all_pods(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Cluster")])
    for _ in range(4):
        assert _ok(curl(f"http://{scene.if_a}/"))
    # zone-a's interface -> node-a; kube-proxy there spreads over both pods, from node-a's IP
    assert scene.seen_by("web-a") == [scene.node_a.node_ip] * 2
    assert scene.seen_by("web-b") == [scene.node_a.node_ip] * 2
    assert scene.nlb.counters().targets == {(LB, "node-a"): 4}


def test_each_zone_interface_uses_its_own_zone(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Cluster")])
    for _ in range(3):
        assert _ok(curl(f"http://{scene.if_a}/"))
        assert _ok(curl(f"http://{scene.if_b}/"))
    counters = scene.nlb.counters()
    assert counters.targets == {(LB, "node-a"): 3, (LB, "node-b"): 3}
    assert {(f.zone, f.target) for f in scene.nlb.flows()} == {
        ("zone-a", "node-a"),
        ("zone-b", "node-b"),
    }


def test_apply_switches_local_to_cluster_for_new_connections(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Local")])
    held = socket.create_connection((scene.if_a, 80), timeout=5, source_address=(CLIENT_IP, 0))
    held.sendall(b"GET /?held=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert held.recv(65536).startswith(b"HTTP/1.1 200 OK")

    scene.nlb.apply([scene.plan("Cluster")])
    assert scene.nlb.listening() == sorted([(scene.if_a, 80), (scene.if_b, 80)])
    for _ in range(2):
        assert _ok(curl(f"http://{scene.if_a}/"))
    # the open connection was not cut by the change, and still comes from the client
    held.sendall(b"GET /?held=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert held.recv(65536).startswith(b"HTTP/1.1 200 OK")
    held.close()
    assert scene.seen_by("web-a") == [CLIENT_IP, scene.node_a.node_ip, CLIENT_IP]
    assert scene.seen_by("web-b") == [scene.node_a.node_ip]

    scene.nlb.apply([scene.plan("Local")])  # and back: the client IP is preserved again
    assert _ok(curl(f"http://{scene.if_b}/"))
    assert scene.seen_by("web-b")[-1] == CLIENT_IP


def test_fail_open_when_no_target_is_healthy(scene: Scene) -> None:
    sick = (replace(scene.node_a, healthy=False), replace(scene.node_b, healthy=False))
    scene.nlb.apply([scene.plan("Local", targets=sick)])
    assert _ok(curl(f"http://{scene.if_a}/"))
    assert scene.seen_by("web-a") == [CLIENT_IP]


def test_a_stopped_node_still_picked_by_the_nlb_loses_the_connection(scene: Scene) -> None:
    # Until its health checks fail, the NLB keeps sending to a node whose instance stopped.
    stopped = replace(scene.node_a, reachable=False)
    scene.nlb.apply([scene.plan("Local", targets=(stopped, scene.node_b))])
    result = curl(f"http://{scene.if_a}/")
    assert result.returncode in (7, 52, 55, 56), result
    assert scene.seen_by("web-a") == []  # the pod on the stopped node never saw it
    assert scene.nlb.counters().dropped == {(LB, "target-down"): 1}
    scene.nlb.apply([scene.plan("Local", targets=(scene.node_a, scene.node_b))])
    assert _ok(curl(f"http://{scene.if_a}/"))


def test_cross_zone_reaches_healthy_targets_elsewhere(scene: Scene) -> None:
    targets = (replace(scene.node_a, healthy=False), scene.node_b)
    scene.nlb.apply([scene.plan("Local", targets=targets, cross_zone=True)])
    assert _ok(curl(f"http://{scene.if_a}/"))
    assert scene.seen_by("web-b") == [CLIENT_IP]  # zone-a's interface, zone-b's node
    scene.nlb.apply([scene.plan("Local", targets=targets, cross_zone=False)])
    assert _ok(curl(f"http://{scene.if_a}/"))  # no healthy target in zone-a: fails open there
    assert scene.seen_by("web-a") == [CLIENT_IP]


def test_half_close_is_carried_through(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Cluster")])
    reply = raw_exchange(scene.if_a, 80, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", half_close=True)
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"Welcome to nginx!" in reply


def test_unreachable_endpoint_and_blackhole(net: Net, pods: PodServers) -> None:
    node = TargetNode("node-a", net.vpc(11), "zone-a", healthy=True)
    ghost = Endpoint(net.pod(99), 80, "node-a", ready=True)  # nothing listens there
    plan = LoadBalancerPlan(LB, ((net.vpc(101), 80, "zone-a"),), (node,), (ghost,), "Cluster")
    with NlbDataPlane(no_endpoint="blackhole") as nlb:
        nlb.apply([plan])
        with pytest.raises((ConnectionResetError, ConnectionRefusedError)):
            raw_exchange(net.vpc(101), 80, GET)
        assert nlb.counters().dropped == {(LB, "endpoint-unreachable"): 1}
        # no ready endpoint at all: blackholed, the client hears nothing until it gives up
        nlb.apply([replace(plan, endpoints=(replace(ghost, ready=False),))])
        with socket.create_connection((net.vpc(101), 80), timeout=0.3) as conn:
            conn.sendall(GET)
            with pytest.raises(TimeoutError):
                conn.recv(1)


def test_without_client_ip_preservation_pods_log_the_nlbs_own_address(scene: Scene) -> None:
    scene.nlb.apply([scene.plan("Local", preserve_client_ip=False)])
    assert _ok(curl(f"http://{scene.if_a}/", source=CLIENT_IP))
    assert _ok(curl(f"http://{scene.if_b}/", source=CLIENT_IP))
    assert scene.seen_by("web-a") == [scene.if_a]  # each zone's own interface address
    assert scene.seen_by("web-b") == [scene.if_b]
    scene.nlb.apply([scene.plan("Cluster", preserve_client_ip=False)])
    assert _ok(curl(f"http://{scene.if_a}/", source=CLIENT_IP))
    assert scene.seen_by("web-a")[1:] + scene.seen_by("web-b")[1:] == [scene.node_a.node_ip]


def test_a_target_reaching_its_own_nlb_times_out_with_client_ip_preservation(
    scene: Scene,
) -> None:
    only_a = scene.plan("Local", targets=(scene.node_a,), cross_zone=True)
    scene.nlb.apply([only_a])
    # From node-a itself: the NLB picks node-a, the reply would go to node-a directly: dropped.
    with socket.create_connection(
        (scene.if_a, 80), timeout=0.3, source_address=(scene.node_a.node_ip, 0)
    ) as conn:
        conn.sendall(GET)
        with pytest.raises(TimeoutError):
            conn.recv(1)
    assert scene.nlb.counters().dropped == {(LB, "hairpin"): 1}
    # From node-b, which is not a target of this NLB: answered, node-b's address logged.
    assert _ok(curl(f"http://{scene.if_a}/", source=scene.node_b.node_ip))
    assert scene.seen_by("web-a") == [scene.node_b.node_ip]
    # Without client IP preservation the NLB's own address is the source: no hairpin.
    scene.nlb.apply([replace(only_a, preserve_client_ip=False)])
    assert _ok(curl(f"http://{scene.if_a}/", source=scene.node_a.node_ip))
    assert scene.seen_by("web-a")[-1] == scene.if_a


def test_proxy_protocol_v2_header_goes_first_with_the_clients_address(net: Net) -> None:
    received: list[bytes] = []
    server = socket.socket()
    server.bind((net.pod(7), 0))
    server.listen(1)
    port = server.getsockname()[1]
    node = TargetNode("node-a", net.vpc(11), "zone-a", healthy=True)
    plan = LoadBalancerPlan(
        LB,
        ((net.vpc(101), 80, "zone-a"),),
        (node,),
        (Endpoint(net.pod(7), port, "node-a", ready=True),),
        "Cluster",
        proxy_protocol_v2=True,
    )
    with NlbDataPlane() as nlb, server:
        nlb.apply([plan])
        with socket.create_connection(
            (net.vpc(101), 80), timeout=5, source_address=(CLIENT_IP, 0)
        ) as client:
            client_port = client.getsockname()[1]
            client.sendall(b"hello")
            upstream, _ = server.accept()
            with upstream:
                upstream.settimeout(5)
                while len(b"".join(received)) < 16 + 12 + 5:
                    received.append(upstream.recv(1024))
    data = b"".join(received)
    assert data[:12] == b"\r\n\r\n\x00\r\nQUIT\n"
    assert data[12:16] == bytes([0x21, 0x11, 0, 12])  # v2 PROXY, TCP over IPv4, 12 bytes
    assert socket.inet_ntoa(data[16:20]) == CLIENT_IP  # the client, not the node that SNATed
    assert socket.inet_ntoa(data[20:24]) == net.vpc(101)
    assert int.from_bytes(data[24:26], "big") == client_port
    assert int.from_bytes(data[26:28], "big") == 80
    assert data[28:] == b"hello"


def test_apply_is_declarative(scene: Scene) -> None:
    plan = scene.plan("Cluster")
    scene.nlb.apply([plan])
    scene.nlb.apply([plan])  # unchanged: nothing happens
    scene.nlb.apply([replace(plan, listeners=plan.listeners[:1])])
    assert scene.nlb.listening() == [(scene.if_a, 80)]
    assert curl(f"http://{scene.if_b}/").stdout.startswith("000")
    held = socket.create_connection((scene.if_a, 80), timeout=5)
    scene.nlb.apply([])  # the Service went away: its NLB stops, open connections end
    assert scene.nlb.listening() == []
    with pytest.raises(ConnectionResetError):
        if held.recv(1) == b"":
            raise ConnectionResetError("closed")
    held.close()


def test_invalid_plans_are_rejected(scene: Scene) -> None:
    with pytest.raises(ValueError, match=r"outside 127\.0\.0\.0/8"):
        scene.nlb.apply([scene.plan(listeners=(("10.0.0.1", 80, "zone-a"),))])
    with pytest.raises(ValueError, match="Local/Cluster"):
        scene.nlb.apply([scene.plan("Sometimes")])
    other = replace(scene.plan(), name="other")
    with pytest.raises(ValueError, match="also used by"):
        scene.nlb.apply([scene.plan(), other])
    assert scene.nlb.listening() == []


def test_stop_leaves_nothing_listening(net: Net, pods: PodServers) -> None:
    node = TargetNode("node-a", net.vpc(11), "zone-a", healthy=True)
    plan = LoadBalancerPlan(LB, ((net.vpc(101), 80, "zone-a"),), (node,), (), "Local")
    nlb = NlbDataPlane()
    nlb.apply([plan])
    assert nlb.listening() == [(net.vpc(101), 80)]
    nlb.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((net.vpc(101), 80), timeout=2).close()


# -- the decisions, as tables -------------------------------------------------------------------

A1 = TargetNode("a1", "127.20.1.1", "a", healthy=True)
A2 = TargetNode("a2", "127.20.1.2", "a", healthy=False)
B1 = TargetNode("b1", "127.20.2.1", "b", healthy=True)


@pytest.mark.parametrize(
    ("targets", "cross_zone", "zone", "expected"),
    [
        ((A1, A2, B1), False, "a", ("a1",)),
        ((A1, A2, B1), True, "a", ("a1", "b1")),  # cross-zone spreads over every healthy one
        ((A2, B1), False, "a", ("a2",)),  # none healthy in reach: fail open
        ((A2, B1), True, "a", ("b1",)),
        ((A2,), False, "a", ("a2",)),
        ((B1,), False, "a", ()),  # nothing in this zone: nowhere to go
    ],
)
def test_reachable_targets(
    targets: tuple[TargetNode, ...], cross_zone: bool, zone: str, expected: tuple[str, ...]
) -> None:
    plan = LoadBalancerPlan("lb", (), targets, (), "Local", cross_zone=cross_zone)
    assert tuple(t.node for t in reachable_targets(plan, zone)) == expected


E1 = Endpoint("127.96.1.2", 80, "a1", ready=True)
E2 = Endpoint("127.96.1.3", 80, "a1", ready=False)
E3 = Endpoint("127.96.2.2", 80, "b1", ready=True)


@pytest.mark.parametrize(
    ("policy", "node", "expected", "source"),
    [
        ("Local", "a1", (E1,), "127.20.0.9"),
        ("Local", "a2", (), "127.20.0.9"),
        ("Cluster", "a1", (E1, E3), "127.20.1.1"),
        ("Cluster", "a2", (E1, E3), "127.20.1.1"),
    ],
)
def test_kube_proxy_choices(
    policy: str, node: str, expected: tuple[Endpoint, ...], source: str
) -> None:
    plan = LoadBalancerPlan("lb", (), (A1,), (E1, E2, E3), policy)
    assert node_endpoints(plan, node) == expected
    assert upstream_source(plan, client_ip="127.20.0.9", target=A1, nlb_ip="127.20.9.9") == source
