"""A rough hourly cost of the environment, from a price table a person can override (pure).

The default figures are AWS's public on-demand prices for ap-northeast-1 (Tokyo), Linux, shared
tenancy, as the author read them from AWS's pricing pages (EC2 On-Demand, Elastic Load
Balancing, VPC NAT gateway) and assumes current on 2025-06-01. Nothing here calls the network:
they are approximate, leave out EBS volumes, data processed (NLCU, NAT per-GB), public IPv4
addresses and taxes, and they change; pass ``price_overrides`` to the ``plan`` flow to use
your own (an instance type, ``nlb`` or ``nat-gateway`` → USD per hour).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from kops_nlb.core.spec import EnvironmentSpec

PRICES_SOURCE = (
    "AWS public on-demand prices, ap-northeast-1, Linux, as read by the author and assumed "
    "current on 2025-06-01 (approximate; no network call)"
)
HOURS_PER_MONTH = 730
NLB = "nlb"
NAT_GATEWAY = "nat-gateway"

# USD per hour.
DEFAULT_PRICES: dict[str, float] = {
    "t3.nano": 0.0068,
    "t3.micro": 0.0136,
    "t3.small": 0.0272,
    "t3.medium": 0.0544,
    "t3.large": 0.1088,
    "t3.xlarge": 0.2176,
    "t3.2xlarge": 0.4352,
    "m5.large": 0.124,
    "m5.xlarge": 0.248,
    "m6i.large": 0.124,
    "m6i.xlarge": 0.248,
    "c5.large": 0.107,
    "c6i.large": 0.107,
    NLB: 0.0243,
    NAT_GATEWAY: 0.062,
}


class CostLine(BaseModel):
    """One kind of billed thing: how many, its hourly price (None: not in the table)."""

    model_config = ConfigDict(frozen=True)

    what: str
    kind: str
    count: int
    hourly: float | None

    @property
    def total(self) -> float | None:
        """The hourly cost of all of them, or None without a price."""
        return None if self.hourly is None else self.hourly * self.count


class CostEstimate(BaseModel):
    """The environment's hourly cost, line by line, and where the prices come from."""

    model_config = ConfigDict(frozen=True)

    lines: tuple[CostLine, ...]
    source: str

    @property
    def hourly(self) -> float:
        """The total per hour of the lines that have a price."""
        return sum(line.total or 0.0 for line in self.lines)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """The kinds the table has no price for."""
        return tuple(sorted({line.kind for line in self.lines if line.hourly is None}))


def price_table(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return the default prices with the given ones replacing or adding entries."""
    table = dict(DEFAULT_PRICES)
    for key, value in (overrides or {}).items():
        if value < 0:
            raise ValueError(f"price of {key!r} must not be negative, got {value}")
        table[key] = float(value)
    return table


def estimate_cost(
    spec: EnvironmentSpec, overrides: Mapping[str, float] | None = None
) -> CostEstimate:
    """Return the environment's running cost per hour: instances, the NLBs, NAT gateways.

    kops makes one API load balancer (a network one) and, for a private topology, one NAT
    gateway per zone; the Service gets one NLB, and the negative control's canary another.
    """
    prices = price_table(overrides)
    wanted = [
        ("control plane", spec.control_plane_size, spec.control_plane_count),
        ("nodes", spec.node_size, spec.node_count),
        ("bastion", spec.bastion_instance_type, 1),
        ("Service NLB", NLB, 1),
        ("kops API load balancer (NLB)", NLB, 1),
    ]
    if spec.negative_control:
        wanted.append(("negative-control canary NLB", NLB, 1))
    if spec.topology == "private":
        wanted.append(("NAT gateways (one per zone)", NAT_GATEWAY, len(spec.zones)))
    source = (
        PRICES_SOURCE
        if not overrides
        else f"{PRICES_SOURCE}; overridden: " + ", ".join(sorted(overrides))
    )
    return CostEstimate(
        lines=tuple(
            CostLine(what=what, kind=kind, count=count, hourly=prices.get(kind))
            for what, kind, count in wanted
        ),
        source=source,
    )
