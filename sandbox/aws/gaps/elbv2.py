"""ELBv2 gaps 6-12 and 20: network load balancers shaped like AWS's, idempotent creates, target health."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from moto.elbv2.exceptions import DuplicateTargetGroupName, TargetGroupNotFoundError
from moto.elbv2.models import (
    ELBv2Backend,
    FakeHealthStatus,
    FakeLoadBalancer,
    FakeTargetGroup,
    elbv2_backends,
)

from sandbox.aws import hooks
from sandbox.aws.exceptions import DuplicateLoadBalancerName
from sandbox.aws.gaps.patching import call_arguments, twin_state, wrap

NLB_ENI_REQUESTER = "amazon-elb"


@dataclass
class _ElbState:
    enis: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    """load balancer arn -> (eni id, subnet id, private ip) per AZ"""


def _elb_state(backend: ELBv2Backend) -> _ElbState:
    return twin_state(backend, _ElbState)


def _lb_id(lb: FakeLoadBalancer) -> str:
    return lb.arn.rsplit("/", 1)[-1]


def _same_lb_settings(lb: FakeLoadBalancer, arguments: dict[str, Any]) -> bool:
    subnet_ids = list(arguments.get("subnet_ids") or [])
    subnet_ids += [m["SubnetId"] for m in arguments.get("subnet_mappings") or []]
    return (
        lb.type == (arguments.get("loadbalancer_type") or "application")
        and (lb.scheme or "internet-facing") == (arguments.get("scheme") or "internet-facing")
        and sorted(s.id for s in lb.subnets) == sorted(subnet_ids)
    )


def _make_network(
    backend: ELBv2Backend, lb: FakeLoadBalancer, mappings: list[dict[str, Any]]
) -> None:
    """Give a network LB its real ARN, DNS name and per-subnet interfaces (gaps 6, 7)."""
    old_arn = lb.arn
    lb_id = _lb_id(lb)
    lb.arn = old_arn.replace(":loadbalancer/app/", ":loadbalancer/net/", 1)
    lb.dns_name = f"{lb.name}-{lb_id}.elb.{backend.region_name}.amazonaws.com"
    backend.load_balancers = type(backend.load_balancers)(
        (lb.arn if arn == old_arn else arn, balancer)
        for arn, balancer in backend.load_balancers.items()
    )
    backend.tagging_service.copy_tags(old_arn, lb.arn)
    backend.tagging_service.delete_all_tags_for_resource(old_arn)
    fixed_ips = {m["SubnetId"]: m.get("PrivateIPv4Address") for m in mappings}
    ec2 = backend.ec2_backend
    created: list[tuple[str, str, str]] = []
    for subnet in lb.subnets:
        ip = fixed_ips.get(subnet.id)
        owner = cast(Any, lb)
        if ip:
            subnet.request_ip(ip, owner)
        else:
            ip = subnet.get_available_subnet_ip(owner)
        eni = ec2.create_network_interface(
            subnet=subnet,
            private_ip_address=ip,
            group_ids=list(lb.security_groups or []) or None,
            description=f"ELB net/{lb.name}/{lb_id}",
        )
        eni.interface_type = "network_load_balancer"
        eni.requester_managed = True
        eni.requester_id = NLB_ENI_REQUESTER
        eni.status = "in-use"
        created.append((eni.id, subnet.id, ip))
    _elb_state(backend).enis[lb.arn] = created


_activation_lock = threading.Lock()
_active_after: dict[str, float] = {}
"""load balancer arn -> monotonic time before which it stays ``provisioning``"""
_provisioning = {"seconds": 0.0}
"""how long every new network load balancer stays ``provisioning`` (process-wide, like moto)"""


def set_nlb_provisioning_seconds(seconds: float) -> None:
    """Keep every network load balancer created from now on ``provisioning`` for ``seconds``.

    AWS takes minutes to turn an NLB ``active`` (moto does it at once), so whoever waits on
    ``State.Code`` (the product, a controller) really waits.
    """
    _provisioning["seconds"] = seconds


def activate_load_balancer_after(arn: str, seconds: float) -> None:
    """Keep one load balancer ``provisioning`` for ``seconds`` from now."""
    with _activation_lock:
        _active_after[arn] = time.monotonic() + seconds
    _, _, _, region, account_id, _ = arn.split(":", 5)
    lb = elbv2_backends[account_id][region].load_balancers.get(arn)
    if lb is not None and seconds > 0:
        lb.state = "provisioning"


def is_active(arn: str) -> bool:
    """Whether the load balancer's provisioning time (``activate_load_balancer_after``) is over."""
    with _activation_lock:
        deadline = _active_after.get(arn)
    return deadline is None or time.monotonic() >= deadline


def interfaces_of(backend: ELBv2Backend, arn: str) -> list[tuple[str, str]]:
    """The load balancer's per-AZ interfaces as (private ip, subnet id)."""
    return [(ip, subnet) for _eni, subnet, ip in _elb_state(backend).enis.get(arn, [])]


def _patched_activate(original: Callable[..., Any]) -> Callable[..., Any]:
    def activate(self: FakeLoadBalancer) -> None:
        with _activation_lock:
            deadline = _active_after.get(self.arn)
        if deadline is None or time.monotonic() >= deadline:
            original(self)

    return activate


def _patched_create_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_load_balancer(self: ELBv2Backend, *args: Any, **kwargs: Any) -> FakeLoadBalancer:
        arguments = call_arguments(original, (self, *args), kwargs)
        name = arguments["name"]
        existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        if existing is not None:
            if _same_lb_settings(existing, arguments):
                return existing  # gap 8: CreateLoadBalancer is idempotent
            raise DuplicateLoadBalancerName(name)
        lb: FakeLoadBalancer = original(self, *args, **kwargs)
        if lb.type == "network":
            _make_network(self, lb, list(arguments.get("subnet_mappings") or []))
            if _provisioning["seconds"] > 0:
                activate_load_balancer_after(lb.arn, _provisioning["seconds"])
        return lb

    return create_load_balancer


def _patched_delete_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_load_balancer(self: ELBv2Backend, arn: str) -> None:
        lb = self.load_balancers.get(arn)
        original(self, arn)
        if lb is None:
            return
        for eni_id, subnet_id, ip in _elb_state(self).enis.pop(arn, []):
            self.ec2_backend.enis.pop(eni_id, None)
            subnet = self.ec2_backend.get_subnet(subnet_id)
            subnet.del_subnet_ip(ip)
        for target_group in self.target_groups.values():
            if arn in target_group.load_balancer_arns:
                target_group.load_balancer_arns.remove(arn)
        self.tagging_service.delete_all_tags_for_resource(arn)

    return delete_load_balancer


DOUBLE_HYPHEN = "--"


def _create_double_hyphen_target_group(
    backend: ELBv2Backend, original: Callable[..., Any], name: str, rest: dict[str, Any]
) -> FakeTargetGroup:
    """Create a target group whose name holds ``--`` (gap 20).

    moto refuses ``--`` by a pattern of the console's; the API accepts it, and kops names its
    kops-controller target group ``kops-controller-<cluster>--<hash>``. moto creates the group
    under a stand-in name of the same length, which then takes the real name and ARN.
    """
    if any(tg.name == name for tg in backend.target_groups.values()):
        raise DuplicateTargetGroupName()
    stand_in = name.replace(DOUBLE_HYPHEN, "-x")
    tg = cast(FakeTargetGroup, original(backend, stand_in, **rest))
    old_arn = tg.arn
    tg.name = name
    tg.arn = old_arn.replace(f":targetgroup/{stand_in}/", f":targetgroup/{name}/", 1)
    backend.target_groups = type(backend.target_groups)(
        (tg.arn if arn == old_arn else arn, group) for arn, group in backend.target_groups.items()
    )
    backend.tagging_service.copy_tags(old_arn, tg.arn)
    backend.tagging_service.delete_all_tags_for_resource(old_arn)
    return tg


def _patched_create_target_group(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_target_group(self: ELBv2Backend, *args: Any, **kwargs: Any) -> FakeTargetGroup:
        arguments = call_arguments(original, (self, *args), kwargs)
        for tg in self.target_groups.values():
            if tg.name != arguments["name"]:
                continue
            same = (
                tg.protocol == arguments.get("protocol")
                and str(tg.port) == str(arguments.get("port"))
                and tg.vpc_id == arguments.get("vpc_id")
                and tg.target_type == (arguments.get("target_type") or "instance")
            )
            if same:
                return tg  # gap 8: CreateTargetGroup is idempotent
        if DOUBLE_HYPHEN in arguments["name"]:
            rest = {k: v for k, v in arguments.items() if k not in ("self", "name")}
            return _create_double_hyphen_target_group(self, original, arguments["name"], rest)
        return cast(FakeTargetGroup, original(self, *args, **kwargs))

    return create_target_group


def _patched_describe_target_groups(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_target_groups(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        arguments = call_arguments(original, (self, *args), kwargs)
        try:
            return original(self, *args, **kwargs)
        except TargetGroupNotFoundError:
            if arguments.get("load_balancer_arn") in self.load_balancers:
                return []  # gap 9
            raise

    return describe_target_groups


def _patched_health_for(original: Callable[..., Any]) -> Callable[..., Any]:
    def health_for(
        self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
    ) -> FakeHealthStatus:
        provider = hooks.target_health_provider()
        registered = self.targets.get(target["Id"])
        if provider is None or registered is None:
            return cast(FakeHealthStatus, original(self, target, ec2_backend))
        state, reason, description = provider(self.arn, registered["Id"], int(registered["Port"]))
        return FakeHealthStatus(
            registered["Id"],
            registered["Port"],
            self.health_check_port,
            state,
            reason,
            description,
        )

    return health_for


_NLB_PROTOCOLS = {"TCP", "UDP", "TLS", "TCP_UDP"}


def _patched_target_group_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: FakeTargetGroup, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.protocol not in _NLB_PROTOCOLS:
            return
        preserve = self.target_type == "instance" or self.protocol in ("UDP", "TCP_UDP")
        self.attributes.setdefault("preserve_client_ip.enabled", "true" if preserve else "false")
        self.attributes.setdefault("proxy_protocol_v2.enabled", "false")
        self.attributes.setdefault("deregistration_delay.connection_termination.enabled", "false")

    return __init__


def _patched_modify_listener(original: Callable[..., Any]) -> Callable[..., Any]:
    def modify_listener(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        listener = original(self, *args, **kwargs)
        lb_arn = listener.load_balancer_arn
        balancer = self.load_balancers.get(lb_arn)
        forwarded = {
            arn
            for each in (balancer.listeners.values() if balancer is not None else [listener])
            for action in each.default_actions
            if action.type == "forward"
            for arn in self._get_target_group_arns_from(action_data=action.data)
        }
        for arn, group in self.target_groups.items():
            if arn in forwarded and lb_arn not in group.load_balancer_arns:
                group.load_balancer_arns.append(lb_arn)
            elif arn not in forwarded and lb_arn in group.load_balancer_arns:
                group.load_balancer_arns.remove(lb_arn)
        return listener

    return modify_listener


def apply() -> None:
    """Install the ELBv2 patches."""
    wrap(ELBv2Backend, "create_load_balancer", _patched_create_load_balancer)
    wrap(FakeLoadBalancer, "activate", _patched_activate)
    wrap(ELBv2Backend, "delete_load_balancer", _patched_delete_load_balancer)
    wrap(ELBv2Backend, "create_target_group", _patched_create_target_group)
    wrap(ELBv2Backend, "describe_target_groups", _patched_describe_target_groups)
    wrap(ELBv2Backend, "modify_listener", _patched_modify_listener)
    wrap(FakeTargetGroup, "health_for", _patched_health_for)
    wrap(FakeTargetGroup, "__init__", _patched_target_group_init)
