"""The twin's data path, fed from what AWS and the cluster say, whoever configured them.

Each pass reads the network load balancers as AWS has them (``sandbox.aws.load_balancers``)
and the cluster's Services, Nodes and Pods, then applies:

- kube-proxy's part on every node: the node ports of every LoadBalancer or NodePort Service,
  and for ``Local`` ones the health-check node port, answering 200 only on nodes with a ready
  local endpoint;
- each NLB of one of the cluster's Services (found by the tags its controller put on it) as a
  ``LoadBalancerPlan``: its zones' interfaces, the targets registered in the group its listener
  forwards to with the health checks' verdict, the group's target type and attributes;
- the NLB's DNS name, answering with the zones that have a healthy target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.aws.load_balancers import ConfiguredBalancer, configured_balancers
from sandbox.cloud import naming
from sandbox.cloud.target_group_attributes import preserves_client_ip, sends_proxy_v2
from sandbox.dataplane.nlb import Endpoint, LoadBalancerPlan, TargetNode
from sandbox.dataplane.node_ports import NodePorts, ServiceHealth

TargetHealth = Callable[[str, str], tuple[str, str | None, str | None]]


@dataclass(frozen=True)
class ClusterNode:
    """A Node of the cluster with its EC2 instance, address and zone."""

    name: str
    instance_id: str
    ip: str
    zone: str
    ready: bool
    worker: bool


def service_key(svc: Mapping[str, Any]) -> str:
    """``<namespace>/<name>`` of a Service."""
    meta = svc["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


def cluster_nodes(nodes: Iterable[Mapping[str, Any]]) -> list[ClusterNode]:
    """The Nodes that are EC2 instances (by ``providerID``), as the controllers see them."""
    found = []
    for node in nodes:
        provider = (node.get("spec") or {}).get("providerID") or ""
        instance_id = provider.rstrip("/").rsplit("/", 1)[-1]
        if not instance_id.startswith("i-"):
            continue
        labels = node["metadata"].get("labels") or {}
        status = node.get("status") or {}
        addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
        found.append(
            ClusterNode(
                name=node["metadata"]["name"],
                instance_id=instance_id,
                ip=addresses.get("InternalIP", ""),
                zone=labels.get("topology.kubernetes.io/zone", ""),
                ready=any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                ),
                worker="node-role.kubernetes.io/control-plane" not in labels
                and naming.EXCLUDE_LABEL not in labels,
            )
        )
    return found


def service_endpoints(svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Endpoint]:
    """The pods the Service selects that have an address, with their node and readiness."""
    spec = svc["spec"]
    selector = spec.get("selector") or {}
    ports = spec.get("ports") or []
    target_port = ports[0].get("targetPort", ports[0]["port"]) if ports else 80
    namespace = svc["metadata"].get("namespace", "default")
    endpoints = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status") or {}
        labels = meta.get("labels") or {}
        selected = bool(selector) and all(labels.get(k) == v for k, v in selector.items())
        if meta.get("namespace", "default") != namespace or meta.get("deletionTimestamp"):
            continue
        if not selected or not status.get("podIP"):
            continue
        endpoints.append(
            Endpoint(
                ip=status["podIP"],
                port=int(target_port),
                node=(pod.get("spec") or {}).get("nodeName") or "",
                ready=any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                ),
            )
        )
    return sorted(endpoints, key=lambda e: (e.node, e.ip))


def owning_service(tags: Mapping[str, str], cluster: str) -> str | None:
    """The ``<namespace>/<name>`` of the cluster's Service whose NLB carries these tags: the
    cloud controller's (``kubernetes.io/service-name`` and the cluster's ownership tag) or the
    AWS Load Balancer Controller's (``service.k8s.aws/stack`` and ``elbv2.k8s.aws/cluster``)."""
    if naming.cluster_owned_tag(cluster) in tags and naming.SERVICE_NAME_TAG in tags:
        return tags[naming.SERVICE_NAME_TAG]
    if tags.get(naming.LBC_CLUSTER_TAG) == cluster and naming.LBC_STACK_TAG in tags:
        return tags[naming.LBC_STACK_TAG]
    return None


def node_ports(
    services: Iterable[Mapping[str, Any]],
    nodes: Iterable[ClusterNode],
    pods: list[Mapping[str, Any]],
    running: Callable[[ClusterNode], bool],
) -> list[NodePorts]:
    """What kube-proxy answers on each running worker node."""
    workers = [n for n in nodes if n.worker and n.ip and running(n)]
    health: dict[str, list[ServiceHealth]] = {n.name: [] for n in workers}
    traffic: dict[str, set[int]] = {n.name: set() for n in workers}
    for svc in services:
        spec = svc.get("spec") or {}
        if spec.get("type") not in ("LoadBalancer", "NodePort"):
            continue
        local = spec.get("externalTrafficPolicy") == "Local"
        endpoints = service_endpoints(svc, pods)
        ports = [int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")]
        namespace, name = service_key(svc).split("/", 1)
        for node in workers:
            ready_here = sum(1 for e in endpoints if e.node == node.name and e.ready)
            if local and spec.get("healthCheckNodePort"):
                health[node.name].append(
                    ServiceHealth(
                        port=int(spec["healthCheckNodePort"]),
                        namespace=namespace,
                        name=name,
                        local_endpoints=ready_here,
                    )
                )
            if ready_here if local else any(e.ready for e in endpoints):
                traffic[node.name].update(ports)
    return [
        NodePorts(
            node=n.name,
            ip=n.ip,
            health_checks=tuple(health[n.name]),
            traffic_ports=tuple(sorted(traffic[n.name])),
        )
        for n in workers
    ]


def balancer_plan(
    balancer: ConfiguredBalancer,
    svc: Mapping[str, Any],
    nodes: Iterable[ClusterNode],
    endpoints: list[Endpoint],
    *,
    healthy: Callable[[str, str], bool],
    running: Callable[[ClusterNode], bool],
) -> LoadBalancerPlan | None:
    """The NLB's forwarding as configured: None until it has a listener."""
    if not balancer.listeners:
        return None
    _port, group = balancer.listeners[0]
    by_instance = {n.instance_id: n for n in nodes}
    zone_of = {n.name: n.zone for n in by_instance.values()}
    by_address = {e.ip: e for e in endpoints}
    targets = []
    for target, _target_port in group.targets:
        if group.target_type == "ip":
            endpoint = by_address.get(target)
            if endpoint is not None:
                zone = zone_of.get(endpoint.node, "")
                targets.append(TargetNode(target, target, zone, healthy(group.arn, target)))
            continue
        node = by_instance.get(target)
        if node is not None:
            targets.append(
                TargetNode(
                    node=node.name,
                    node_ip=node.ip,
                    zone=node.zone,
                    healthy=healthy(group.arn, target),
                    reachable=running(node),
                )
            )
    return LoadBalancerPlan(
        name=balancer.name,
        listeners=tuple(
            (ip, port, zone) for ip, zone in balancer.interfaces for port, _ in balancer.listeners
        ),
        targets=tuple(targets),
        endpoints=tuple(endpoints),
        traffic_policy="Local"
        if svc["spec"].get("externalTrafficPolicy") == "Local"
        else "Cluster",
        cross_zone=balancer.cross_zone,
        target_type=group.target_type,
        preserve_client_ip=preserves_client_ip(group.attributes),
        proxy_protocol_v2=sends_proxy_v2(group.attributes),
    )


def answering_addresses(balancer: ConfiguredBalancer, plan: LoadBalancerPlan | None) -> list[str]:
    """What the NLB's DNS name answers: the zones with a healthy target (every zone when none
    has one: AWS fails open), as Route 53's health checks of its nodes do."""
    healthy_zones = {t.zone for t in plan.targets if t.healthy} if plan else set()
    return [ip for ip, zone in balancer.interfaces if zone in healthy_zones] or [
        ip for ip, _zone in balancer.interfaces
    ]


class DataPath:
    """Applies the data path of the current cluster on every ``reconcile``."""

    def __init__(
        self,
        *,
        region: str,
        target_health: TargetHealth,
        instance_running: Callable[[str], bool],
        cluster_of_instance: Callable[[str], str | None],
        apply_plans: Callable[[list[LoadBalancerPlan]], None],
        apply_node_ports: Callable[[list[NodePorts]], None],
        publish_hosts: Callable[[dict[str, list[str]]], None],
    ) -> None:
        self._region = region
        self._target_health = target_health
        self._instance_running = instance_running
        self._cluster_of_instance = cluster_of_instance
        self._apply_plans = apply_plans
        self._apply_node_ports = apply_node_ports
        self._publish_hosts = publish_hosts

    def reconcile(self, kube: Any) -> None:
        """One pass over the cluster's view (``kube_inputs.WatchedCluster``)."""
        services, pods = kube.list("v1/services"), kube.list("v1/pods")
        nodes = cluster_nodes(kube.list("v1/nodes"))
        running = {n.instance_id: self._instance_running(n.instance_id) for n in nodes}

        def is_running(node: ClusterNode) -> bool:
            return running.get(node.instance_id, False)

        def healthy(group_arn: str, target: str) -> bool:
            return self._target_health(group_arn, target)[0] == "healthy"

        self._apply_node_ports(node_ports(services, nodes, pods, is_running))
        cluster = next((c for n in nodes if (c := self._cluster_of_instance(n.instance_id))), None)
        by_key = {service_key(s): s for s in services}
        plans, hosts = [], {}
        for balancer in configured_balancers(self._region) if cluster else []:
            key = owning_service(balancer.tags, cluster or "")
            svc = by_key.get(key or "")
            if svc is None:
                continue
            endpoints = service_endpoints(svc, pods)
            plan = balancer_plan(
                balancer, svc, nodes, endpoints, healthy=healthy, running=is_running
            )
            hosts[balancer.dns_name] = answering_addresses(balancer, plan)
            if plan is not None and balancer.active:
                plans.append(plan)
        self._apply_plans(plans)
        self._publish_hosts(hosts)
