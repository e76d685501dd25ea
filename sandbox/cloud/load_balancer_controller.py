"""The twin's stand-in for the AWS Load Balancer Controller (which cannot be built here).

It watches LoadBalancer Services typed ``external`` and does what the controller documents: an
NLB named ``k8s-<ns>-<svc>-<hash>`` in the cluster's subnets, one target group per port
(``instance`` targets on the node port, or ``ip`` targets on the pods), the health check per
traffic policy, attributes from the annotations, a TCP listener, the Service's ingress hostname,
and a finalizer that holds the Service until all of it is deleted. It talks to the twin's AWS
through boto3; the data path (``data_path``) follows what it configured there. Services typed
``nlb`` are the real aws-cloud-controller-manager's, on each cluster's control plane.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.config import Config

from sandbox.aws.clients import twin_client
from sandbox.cloud import lbc_naming, naming
from sandbox.cloud.data_path import ClusterNode, cluster_nodes, service_endpoints, service_key
from sandbox.cloud.target_group_attributes import sync_attributes

log = logging.getLogger(__name__)


class KubeStore(Protocol):
    """The in-process view of the twin's Kubernetes API the controller needs."""

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class _Balancer:
    """What the controller made for one Service."""

    service_key: str
    arn: str
    name: str
    dns_name: str
    target_groups: dict[int, str] = field(default_factory=dict)  # service port -> TG arn
    listeners: dict[int, str] = field(default_factory=dict)  # service port -> listener arn
    fingerprint: tuple[Any, ...] = ()
    target_type: str = "instance"


class LoadBalancerController:
    """Reconciles ``external`` Services against the twin's AWS; call `reconcile` periodically."""

    def __init__(self, *, aws_url: str, region: str) -> None:
        self._aws_url = aws_url
        self._region = region
        self._balancers: dict[str, _Balancer] = {}
        self._clients: dict[str, Any] = {}
        self.aws_calls = 0

    # -- AWS -----------------------------------------------------------------------------------
    def _aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = twin_client(
                service,
                region=self._region,
                endpoint_url=self._aws_url,
                access_key_id="twin",
                secret_access_key="twin",
                config=Config(retries={"mode": "standard", "max_attempts": 10}),
            )
        return self._clients[service]

    def _call(self, service: str, operation: str, **kwargs: Any) -> Any:
        self.aws_calls += 1
        return getattr(self._aws(service), operation)(**kwargs)

    # -- the loop ------------------------------------------------------------------------------
    def reconcile(self, kube: KubeStore) -> None:
        """One pass: bring every ``external`` Service's load balancer in line."""
        services = kube.list("v1/services")
        nodes = cluster_nodes(kube.list("v1/nodes"))
        pods = kube.list("v1/pods")
        seen: set[str] = set()
        for svc in services:
            key = service_key(svc)
            deleting = bool(svc["metadata"].get("deletionTimestamp"))
            if lbc_naming.takes(svc) and not deleting:
                seen.add(key)
                self._ensure(kube, svc, nodes, pods)
            elif lbc_naming.holds(svc) or key in self._balancers:
                self._delete(kube, svc)
        for key in [k for k in self._balancers if k not in seen]:
            self._forget(key)

    def _cluster_name(self, nodes: list[ClusterNode]) -> str | None:
        if not nodes:
            return None
        reservations = self._call("ec2", "describe_instances", InstanceIds=[nodes[0].instance_id])[
            "Reservations"
        ]
        for reservation in reservations:
            for instance in reservation["Instances"]:
                for tag in instance.get("Tags", []):
                    if tag["Key"] == naming.CLUSTER_NAME_TAG:
                        return str(tag["Value"])
        return None

    # -- create / update -----------------------------------------------------------------------
    def _ensure(
        self,
        kube: KubeStore,
        svc: dict[str, Any],
        nodes: list[ClusterNode],
        pods: list[dict[str, Any]],
    ) -> None:
        meta, spec = svc["metadata"], svc["spec"]
        key = service_key(svc)
        ns = meta.get("namespace", "default")
        if not lbc_naming.holds(svc):
            finalizers = [*(meta.get("finalizers") or []), lbc_naming.FINALIZER]
            kube.patch("v1/services", meta["name"], {"metadata": {"finalizers": finalizers}}, ns)
        # Instance targets are the worker nodes; ip targets the Service's pods.
        if lbc_naming.target_type(svc) == "ip":
            target_ids = sorted(e.ip for e in service_endpoints(svc, pods))
        else:
            target_ids = sorted(n.instance_id for n in nodes if n.worker)
        fingerprint = (
            spec.get("externalTrafficPolicy"),
            spec.get("healthCheckNodePort"),
            tuple((p.get("port"), p.get("nodePort")) for p in spec.get("ports") or []),
            tuple(target_ids),
            lbc_naming.internal(svc),
            lbc_naming.target_type(svc),
            tuple(sorted(lbc_naming.attributes(svc).items())),
        )
        balancer = self._balancers.get(key)
        if balancer is None:
            cluster = self._cluster_name(nodes)
            if cluster is None:
                return  # no nodes yet: nothing to put behind a load balancer
            balancer = self._create_balancer(svc, cluster)
            self._balancers[key] = balancer
        if balancer.fingerprint != fingerprint:
            self._sync_target_groups(svc, balancer, target_ids)
            balancer.fingerprint = fingerprint
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not ingress or ingress[0].get("hostname") != balancer.dns_name:
            kube.patch(
                "v1/services",
                meta["name"],
                {"status": {"loadBalancer": {"ingress": [{"hostname": balancer.dns_name}]}}},
                ns,
                subresource="status",
            )

    def _subnets(self, cluster: str, internal: bool) -> list[str]:
        role_tag = "kubernetes.io/role/internal-elb" if internal else "kubernetes.io/role/elb"
        subnets = self._call(
            "ec2",
            "describe_subnets",
            Filters=[
                {"Name": f"tag:{naming.cluster_owned_tag(cluster)}", "Values": ["owned", "shared"]},
                {"Name": "tag-key", "Values": [role_tag]},
            ],
        )["Subnets"]
        per_zone: dict[str, str] = {}
        for subnet in sorted(subnets, key=lambda s: s["SubnetId"]):
            per_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
        return [per_zone[z] for z in sorted(per_zone)]

    def _create_balancer(self, svc: dict[str, Any], cluster: str) -> _Balancer:
        key = service_key(svc)
        name = lbc_naming.lb_name(svc)
        tags = lbc_naming.tags(svc, cluster)
        found = self._find_balancer(name)
        if found is None:
            internal = lbc_naming.internal(svc)
            found = self._call(
                "elbv2",
                "create_load_balancer",
                Name=name,
                Subnets=self._subnets(cluster, internal),
                Scheme="internal" if internal else "internet-facing",
                Type="network",
                Tags=tags,
            )["LoadBalancers"][0]
            log.info("created NLB %s for %s", name, key)
        return _Balancer(
            service_key=key,
            arn=found["LoadBalancerArn"],
            name=name,
            dns_name=found["DNSName"],
            target_type=lbc_naming.target_type(svc),
        )

    def _find_balancer(self, name: str) -> dict[str, Any] | None:
        try:
            found = self._call("elbv2", "describe_load_balancers", Names=[name])["LoadBalancers"]
        except self._aws("elbv2").exceptions.LoadBalancerNotFoundException:
            return None
        return found[0] if found else None

    def _sync_target_groups(
        self, svc: dict[str, Any], balancer: _Balancer, target_ids: list[str]
    ) -> None:
        spec = svc["spec"]
        ip_targets = balancer.target_type == "ip"
        local = spec.get("externalTrafficPolicy") == "Local" and not ip_targets
        health: dict[str, Any] = (
            {
                "HealthCheckProtocol": "HTTP",
                "HealthCheckPath": "/healthz",
                "HealthCheckPort": str(spec.get("healthCheckNodePort")),
            }
            if local
            else {"HealthCheckProtocol": "TCP", "HealthCheckPort": "traffic-port"}
        )
        wanted_ports = set()
        for port in spec.get("ports") or []:
            service_port, node_port = port["port"], port.get("nodePort")
            if not node_port:
                continue
            # ip targets receive on the pods' port, instance targets on the node port.
            target_port = int(port.get("targetPort", service_port)) if ip_targets else node_port
            wanted_ports.add(service_port)
            tg_arn = balancer.target_groups.get(service_port)
            tg_name = lbc_naming.target_group_name(svc, service_port)
            if tg_arn is None:
                tg_arn = self._call(
                    "elbv2",
                    "create_target_group",
                    Name=tg_name,
                    Protocol="TCP",
                    Port=target_port,
                    VpcId=self._vpc_of(balancer.arn),
                    TargetType=balancer.target_type,
                    HealthCheckIntervalSeconds=10,
                    HealthyThresholdCount=2,
                    UnhealthyThresholdCount=2,
                    Tags=self._lb_tags(balancer.arn),
                    **health,
                )["TargetGroups"][0]["TargetGroupArn"]
                balancer.target_groups[service_port] = tg_arn
                listener = self._call(
                    "elbv2",
                    "create_listener",
                    LoadBalancerArn=balancer.arn,
                    Protocol="TCP",
                    Port=service_port,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
                )["Listeners"][0]
                balancer.listeners[service_port] = listener["ListenerArn"]
            else:
                self._call("elbv2", "modify_target_group", TargetGroupArn=tg_arn, **health)
            sync_attributes(self._call, tg_arn, lbc_naming.attributes(svc))
            self._sync_targets(balancer, tg_arn, target_port, target_ids)
        for service_port in [p for p in balancer.target_groups if p not in wanted_ports]:
            self._call("elbv2", "delete_listener", ListenerArn=balancer.listeners.pop(service_port))
            tg_arn = balancer.target_groups.pop(service_port)
            self._call("elbv2", "delete_target_group", TargetGroupArn=tg_arn)

    def _sync_targets(
        self, balancer: _Balancer, tg_arn: str, node_port: int, workers: list[str]
    ) -> None:
        current = {
            d["Target"]["Id"]
            for d in self._call("elbv2", "describe_target_health", TargetGroupArn=tg_arn)[
                "TargetHealthDescriptions"
            ]
        }
        add = [i for i in workers if i not in current]
        remove = [i for i in current if i not in workers]
        if add:
            self._call(
                "elbv2",
                "register_targets",
                TargetGroupArn=tg_arn,
                Targets=[{"Id": i, "Port": node_port} for i in add],
            )
        if remove:
            self._call(
                "elbv2",
                "deregister_targets",
                TargetGroupArn=tg_arn,
                Targets=[{"Id": i} for i in remove],
            )

    def _vpc_of(self, lb_arn: str) -> str:
        lbs = self._call("elbv2", "describe_load_balancers", LoadBalancerArns=[lb_arn])
        return str(lbs["LoadBalancers"][0]["VpcId"])

    def _lb_tags(self, lb_arn: str) -> list[dict[str, str]]:
        described = self._call("elbv2", "describe_tags", ResourceArns=[lb_arn])
        return list(described["TagDescriptions"][0]["Tags"])

    # -- delete --------------------------------------------------------------------------------
    def _delete(self, kube: KubeStore, svc: dict[str, Any]) -> None:
        meta = svc["metadata"]
        key = service_key(svc)
        balancer = self._balancers.get(key)
        name = balancer.name if balancer else lbc_naming.lb_name(svc)
        found = self._find_balancer(name)
        if found is not None:
            arn = found["LoadBalancerArn"]
            listeners = self._call("elbv2", "describe_listeners", LoadBalancerArn=arn)["Listeners"]
            groups = {
                action["TargetGroupArn"]
                for listener in listeners
                for action in listener.get("DefaultActions", [])
                if action.get("TargetGroupArn")
            }
            for listener in listeners:
                self._call("elbv2", "delete_listener", ListenerArn=listener["ListenerArn"])
            self._call("elbv2", "delete_load_balancer", LoadBalancerArn=arn)
            for tg_arn in groups:
                self._call("elbv2", "delete_target_group", TargetGroupArn=tg_arn)
            log.info("deleted NLB %s of %s", name, key)
        self._forget(key)
        finalizers = [f for f in meta.get("finalizers") or [] if f != lbc_naming.FINALIZER]
        if finalizers != (meta.get("finalizers") or []):
            kube.patch(
                "v1/services",
                meta["name"],
                {"metadata": {"finalizers": finalizers}},
                meta.get("namespace", "default"),
            )
        if not finalizers and meta.get("deletionTimestamp") is None:
            ingress_gone: dict[str, Any] = {"status": {"loadBalancer": {}}}
            kube.patch(
                "v1/services",
                meta["name"],
                ingress_gone,
                meta.get("namespace", "default"),
                subresource="status",
            )

    def _forget(self, key: str) -> None:
        self._balancers.pop(key, None)
