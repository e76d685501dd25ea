"""Judgements of the account and region before anything is written (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kops_nlb.core.kops.output import SUPPORTED_KOPS, is_supported_version, parse_version

# Region opt-in states in which the region can be used.
_USABLE_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})


def region_problem(region: str, regions: Iterable[Mapping[str, Any]]) -> str | None:
    """Return why `region` cannot be used, given DescribeRegions(AllRegions) output, else None."""
    by_name = {r.get("RegionName"): r for r in regions}
    found = by_name.get(region)
    if found is None:
        known = ", ".join(sorted(str(name) for name in by_name if name))
        return f"region {region} does not exist (known regions: {known})"
    status = found.get("OptInStatus", "opt-in-not-required")
    if status not in _USABLE_OPT_IN:
        return f"region {region} is not enabled for this account (opt-in status: {status})"
    return None


def zone_problems(
    wanted: Iterable[str], zones: Iterable[Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """Return (wanted zones that are missing or not `available`, the available zones)."""
    state = {z.get("ZoneName"): z.get("State") for z in zones}
    available = sorted(str(name) for name, s in state.items() if name and s == "available")
    bad = [
        f"{zone} ({state[zone]})" if zone in state else f"{zone} (no such zone)"
        for zone in wanted
        if state.get(zone) != "available"
    ]
    return bad, available


def kops_version_problem(version_output: str) -> tuple[str | None, str]:
    """Return (why this kops cannot be used or None, the version read) from ``kops version``."""
    try:
        version = parse_version(version_output)
    except ValueError:
        return "cannot read the kops version", ""
    if not is_supported_version(version):
        low, high = SUPPORTED_KOPS
        return (
            f"kops {version} is not supported: use {low[0]}.{low[1]} <= kops < {high[0]}.{high[1]}",
            version,
        )
    return None, version
