"""Verification finds the bastion provision made, read-only, on the twin's AWS."""

from __future__ import annotations

from typing import Any

import pytest

from kops_nlb.core.errors import KopsNlbError
from kops_nlb.core.spec import EnvironmentSpec
from tasks.bastion import (
    ensure_bastion_instance,
    ensure_bastion_role,
    ensure_bastion_security_group,
    find_bastion,
    wait_for_bastion_online,
)
from tasks.network import cluster_network

pytestmark = pytest.mark.usefixtures("no_run_logger")


def test_no_bastion_is_a_clear_error(twin_kops_vpc: dict[str, str], spec: EnvironmentSpec) -> None:
    with pytest.raises(KopsNlbError, match="run `provision` first"):
        find_bastion.fn(spec)


@pytest.fixture
def bastion_id(twin_kops_vpc: dict[str, str], spec: EnvironmentSpec) -> str:
    """A bastion launched the way provision launches it."""
    network = cluster_network.fn(spec)
    ensure_bastion_role.fn(spec)
    ensure_bastion_security_group.fn(spec, network)
    return ensure_bastion_instance.fn(spec, network, "token-1").ids["instance_id"]


def test_the_online_bastion_is_found_without_creating_anything(
    bastion_id: str, spec: EnvironmentSpec, boto: Any
) -> None:
    online = wait_for_bastion_online.fn(spec, bastion_id)
    before = len(boto("ec2").describe_instances()["Reservations"])

    assert find_bastion.fn(spec) == online
    assert len(boto("ec2").describe_instances()["Reservations"]) == before


def test_a_stopped_bastion_is_not_used(bastion_id: str, spec: EnvironmentSpec, boto: Any) -> None:
    boto("ec2").stop_instances(InstanceIds=[bastion_id])
    with pytest.raises(KopsNlbError, match="no running bastion"):
        find_bastion.fn(spec)
