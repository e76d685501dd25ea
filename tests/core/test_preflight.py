"""Region and zone judgements before anything is written (tables)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tasks.bastion import latest_al2023_ami
from tasks.preflight import (
    caller_account,
    region_problem,
    zone_problems,
)

pytestmark = pytest.mark.usefixtures("no_run_logger")

REGIONS = [
    {"RegionName": "ap-northeast-1", "OptInStatus": "opt-in-not-required"},
    {"RegionName": "ap-east-1", "OptInStatus": "not-opted-in"},
    {"RegionName": "me-central-1", "OptInStatus": "opted-in"},
]


@pytest.mark.parametrize(
    ("region", "problem"),
    [
        ("ap-northeast-1", None),
        ("me-central-1", None),
        (
            "ap-east-1",
            "region ap-east-1 is not enabled for this account (opt-in status: not-opted-in)",
        ),
        (
            "xx-nowhere-1",
            "region xx-nowhere-1 does not exist (known regions: ap-east-1, ap-northeast-1, me-central-1)",
        ),
    ],
    ids=["default", "opted-in", "not-opted-in", "unknown"],
)
def test_region_problem(region: str, problem: str | None) -> None:
    assert region_problem(region, REGIONS) == problem


ZONES = [
    {"ZoneName": "ap-northeast-1a", "State": "available"},
    {"ZoneName": "ap-northeast-1c", "State": "available"},
    {"ZoneName": "ap-northeast-1d", "State": "impaired"},
]


@pytest.mark.parametrize(
    ("wanted", "bad"),
    [
        (["ap-northeast-1a", "ap-northeast-1c"], []),
        (["ap-northeast-1a", "ap-northeast-1d"], ["ap-northeast-1d (impaired)"]),
        (["ap-northeast-1b"], ["ap-northeast-1b (no such zone)"]),
    ],
    ids=["all-available", "impaired", "missing"],
)
def test_zone_problems(wanted: list[str], bad: list[str]) -> None:
    assert zone_problems(wanted, ZONES) == (bad, ["ap-northeast-1a", "ap-northeast-1c"])


def test_lookups_taking_the_same_region_never_share_a_cache_key(region: str) -> None:
    def key(lookup: Any) -> str | None:
        ctx = SimpleNamespace(task=lookup)
        return lookup.cache_policy.compute_key(ctx, {"region": region}, {})

    assert key(caller_account) != key(latest_al2023_ami)
    assert caller_account.cache_expiration == latest_al2023_ami.cache_expiration
