"""Which client address a target group delivers to nginx, from its real settings (pure).

AWS's rules (ELB user guide, "Target group attributes" and "Client IP preservation" for Network
Load Balancers; the AWS Load Balancer Controller's NLB guide):

- client IP preservation (``preserve_client_ip.enabled``) is on by default for ``instance``
  targets and off by default for ``ip`` targets over TCP and TLS; off, the target sees the
  connection come from the NLB's own private address in that zone;
- with ``instance`` targets the NLB reaches a NodePort, and kube-proxy keeps the source address
  under ``externalTrafficPolicy: Local`` but SNATs to the node's address under ``Cluster``;
  ``ip`` targets bypass kube-proxy, so the policy changes nothing;
- with proxy protocol v2 the client's address travels in the PROXY header whatever the packet's
  source, and nginx logs it when its log format uses ``$proxy_protocol_addr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AddressKind = Literal["client", "node", "nlb"]


@dataclass(frozen=True)
class Delivery:
    """The kind of address nginx logs for a request, and the setting that decides it."""

    kind: AddressKind
    why: str


def default_preserve_client_ip(target_type: str, protocol: str = "TCP") -> bool:
    """Return AWS's default of ``preserve_client_ip.enabled`` for a target group."""
    return target_type == "instance" or protocol in ("UDP", "TCP_UDP")


def delivered_address(
    *,
    target_type: str,
    preserve_client_ip: bool | None,
    proxy_protocol_v2: bool,
    policy: str,
    protocol: str = "TCP",
) -> Delivery:
    """Return what nginx logs as the client for a target group's settings and traffic policy."""
    if proxy_protocol_v2:
        return Delivery("client", "proxy protocol v2 carries the client's address in its header")
    preserve = (
        default_preserve_client_ip(target_type, protocol)
        if preserve_client_ip is None
        else preserve_client_ip
    )
    if target_type == "instance" and policy == "Cluster":
        return Delivery("node", "kube-proxy SNATs to the node under externalTrafficPolicy Cluster")
    if not preserve:
        default = " (the default for ip targets)" if target_type == "ip" else ""
        return Delivery(
            "nlb",
            f"preserve_client_ip.enabled is false{default}: the NLB connects to the target from "
            "its own private address",
        )
    if target_type == "instance":
        return Delivery(
            "client", "instance targets preserve the client IP and Local keeps it on the node"
        )
    return Delivery("client", "ip targets with client IP preservation on")
