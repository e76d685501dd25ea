"""EC2 gaps: RunInstances idempotency (13), a lighter AMI catalogue (17), rules for protocols
without ports (18), the Canonical Ubuntu images real kops boots its nodes from (19),
route-table associations that go with their subnet (22), DHCP options that outlive their VPC (23),
a subnet's hostname type on launch that ModifySubnetAttribute sets (27), and subnets that cannot
be deleted while network interfaces are in them (28)."""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from moto.core.responses import ActionResult
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import amis as amis_module
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import Reservation
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ec2.models.subnets import Subnet, SubnetBackend
from moto.ec2.models.vpcs import VPC, VPCBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.subnets import Subnets
from moto.utilities.utils import load_resource as _moto_load_resource

from sandbox.aws.exceptions import IdempotentParameterMismatch
from sandbox.aws.gaps.patching import twin_state, wrap


@dataclass
class _Ec2State:
    client_tokens: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], str]] = field(
        default_factory=dict
    )
    """client token -> (request fingerprint, reservation id)"""


_IDEMPOTENCY_IGNORED = {"Action", "Version", "ClientToken", "DryRun", "Placement.AvailabilityZone"}
_run_instances_lock = threading.Lock()


def _fingerprint(querystring: Mapping[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        sorted((k, tuple(v)) for k, v in querystring.items() if k not in _IDEMPOTENCY_IGNORED)
    )


def _patched_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(self: InstanceResponse) -> ActionResult:
        token = (self.querystring.get("ClientToken") or [""])[0]
        if not token:
            return cast(ActionResult, original(self))
        state = twin_state(self.ec2_backend, _Ec2State)
        fingerprint = _fingerprint(self.querystring)
        with _run_instances_lock:
            known = state.client_tokens.get(token)
            if known is not None:
                if known[0] != fingerprint:
                    raise IdempotentParameterMismatch()
                reservation: Reservation | None = self.ec2_backend.reservations.get(known[1])
                if reservation is not None:
                    return ActionResult(reservation)  # gap 13
            result = cast(ActionResult, original(self))
            launched = cast(Reservation, result.result)
            state.client_tokens[token] = (fingerprint, launched.id)
            return result

    return run_instances


_ECS_AMIS = "ec2/resources/ecs/optimized_amis/"


def _without_ecs_amis(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_resource(filename: str, *args: Any, **kwargs: Any) -> Any:
        if filename.startswith(_ECS_AMIS):
            raise FileNotFoundError(filename)  # moto's loader skips a region without the file
        return original(filename, *args, **kwargs)

    return load_resource


# Protocols whose rules carry ports; AWS ignores ports for every other one ("all ports").
_PORTED_PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", "6", "17", "1", "58", "-1", "all"}


def _patched_rule_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(
        self: SecurityGroupRule,
        ec2_backend: Any,
        ip_protocol: str,
        group_id: str,
        from_port: str | None,
        to_port: str | None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        portless = (
            ip_protocol is not None
            and str(ip_protocol).lower() not in _PORTED_PROTOCOLS
            and (from_port is None or to_port is None)
        )
        if not portless:
            original(self, ec2_backend, ip_protocol, group_id, from_port, to_port, *args, **kwargs)
            return
        # gap 18: moto calls int(None) (HTTP 500); AWS stores the rule with no ports
        original(self, ec2_backend, ip_protocol, group_id, "-1", "-1", *args, **kwargs)
        self.from_port = self.to_port = None

    return __init__


CANONICAL_OWNER_ID = "099720109477"
CANONICAL_IMAGES = (
    ("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260218", "x86_64"),
    ("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20260218", "arm64"),
)
"""The images the `stable` channel of kops 1.36.2 names for Kubernetes 1.33+ on AWS (the
contract tests check this list against the channel file)."""


def canonical_image_id(name: str) -> str:
    """Return the twin's stable AMI id for a Canonical image name (the same in every region)."""
    return "ami-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def _patched_load_amis(original: Callable[..., Any]) -> Callable[..., Any]:
    def _load_amis(self: AmiBackend) -> None:
        original(self)
        for name, architecture in CANONICAL_IMAGES:  # gap 19
            image_id = canonical_image_id(name)
            self.amis[image_id] = Ami(
                self,
                ami_id=image_id,
                name=name,
                description=f"Canonical, Ubuntu, 24.04, {architecture} noble image",
                owner_id=CANONICAL_OWNER_ID,
                public=True,
                virtualization_type="hvm",
                architecture=architecture,
                creation_date=datetime.datetime(2026, 2, 18, tzinfo=datetime.UTC),
                image_location=f"amazon/{name}",
                hypervisor="xen",
                root_device_type="ebs",
                root_device_name="/dev/sda1",
                sriov="simple",
                region_name=f"{getattr(self, 'region_name', 'us-east-1')}a",  # a zone, in moto
                boot_mode="uefi-preferred",
            )

    return _load_amis


def _holding(backend: Any, subnet_id: str) -> list[str]:
    """The interfaces that keep the subnet in use. moto keeps two kinds that AWS releases: a
    terminated instance's primary interface and a deleted NAT gateway's; those do not count."""
    released = {nat._eni.id for nat in backend.nat_gateways.values() if nat.state == "deleted"}
    return [
        eni.id
        for eni in backend.enis.values()
        if eni.subnet.id == subnet_id
        and eni.id not in released
        and (eni.instance is None or eni.instance.state != "terminated")
    ]


def _patched_delete_subnet(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_subnet(self: SubnetBackend, subnet_id: str) -> Subnet:
        # gap 28: AWS refuses while interfaces are in the subnet (a load balancer's, an
        # instance's); moto deleted it, and deleting the load balancer then failed on it.
        if _holding(self, subnet_id):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        subnet = cast(Subnet, original(self, subnet_id))
        # gap 22: AWS drops the subnet's route-table association with it; moto keeps it, so the
        # route table can never be deleted (DependencyViolation) and `kops delete` loops.
        for table in cast(Any, self).route_tables.values():
            for association_id, target in list(table._associations.items()):
                if target == subnet_id:
                    del table._associations[association_id]
        return subnet

    return delete_subnet


def _patched_delete_vpc(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_vpc(self: VPCBackend, vpc_id: str) -> VPC:
        vpc = self.vpcs.get(vpc_id)
        options = vpc.dhcp_options if vpc is not None else None
        if vpc is not None:
            vpc.dhcp_options = None  # gap 23: moto would delete the options set with the VPC
        try:
            deleted = cast(VPC, original(self, vpc_id))
        except Exception:
            if vpc is not None:
                vpc.dhcp_options = options
            raise
        if options is not None:
            options.vpc = None  # AWS keeps the set, no longer associated
        return deleted

    return delete_vpc


def _patched_modify_subnet_attribute(original: Callable[..., Any]) -> Callable[..., Any]:
    def modify_subnet_attribute(self: Subnets) -> ActionResult:
        hostname_type = self._get_param("PrivateDnsHostnameTypeOnLaunch")
        result = cast(ActionResult, original(self))
        if hostname_type:  # gap 27: moto drops it, so kops sets it again on every update
            subnet = self.ec2_backend.get_subnet(self._get_param("SubnetId"))
            subnet.private_dns_name_options_on_launch["HostnameType"] = hostname_type
        return result

    return modify_subnet_attribute


def apply() -> None:
    """Install the EC2 patches."""
    wrap(VPCBackend, "delete_vpc", _patched_delete_vpc)
    wrap(SubnetBackend, "delete_subnet", _patched_delete_subnet)
    wrap(Subnets, "modify_subnet_attribute", _patched_modify_subnet_attribute)
    wrap(InstanceResponse, "run_instances", _patched_run_instances)
    wrap(SecurityGroupRule, "__init__", _patched_rule_init)
    wrap(AmiBackend, "_load_amis", _patched_load_amis)
    if amis_module.load_resource is not _moto_load_resource:
        raise RuntimeError("moto changed: ec2.models.amis no longer loads with load_resource")
    amis_module.load_resource = _without_ecs_amis(_moto_load_resource)
