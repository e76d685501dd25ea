"""Reading a cluster's instance groups back from kops, and telling a half-written spec."""

from __future__ import annotations

import json

import pytest

from kops_nlb.core.kops.instance_groups import (
    GroupSizes,
    get_instancegroups_argv,
    is_partial,
    parse_group_sizes,
)
from kops_nlb.core.spec import EnvironmentSpec


def group(name: str, role: str, size: int) -> dict[str, object]:
    return {
        "kind": "InstanceGroup",
        "metadata": {"name": name},
        "spec": {"role": role, "minSize": size},
    }


def test_the_argv_names_the_cluster_and_asks_for_json() -> None:
    spec = EnvironmentSpec(cluster_name="c.k8s.local")
    assert get_instancegroups_argv(spec, "s3://state") == [
        "get", "instancegroups", "--name", "c.k8s.local", "--state", "s3://state", "-o", "json",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("groups", "sizes"),
    [
        ([], GroupSizes(0, 0)),
        ([group("control-plane-a", "Master", 1)], GroupSizes(1, 0)),
        (
            [group("cp", "ControlPlane", 3), group("n-a", "Node", 2), group("n-c", "Node", 1)],
            GroupSizes(3, 3),
        ),
        ([group("bastions", "Bastion", 1), group("n-a", "Node", 2)], GroupSizes(0, 2)),
    ],
)
def test_sizes_add_up_per_role(groups: list[dict[str, object]], sizes: GroupSizes) -> None:
    assert parse_group_sizes(json.dumps(groups)) == sizes


def test_output_that_is_not_instance_groups_is_refused() -> None:
    with pytest.raises(ValueError, match="not a kops InstanceGroup"):
        parse_group_sizes(json.dumps([{"kind": "Cluster"}]))


@pytest.mark.parametrize(
    ("sizes", "partial"),
    [
        (GroupSizes(1, 2), False),
        (GroupSizes(1, 3), False),  # more than asked (resized by hand) is not half-written
        (GroupSizes(1, 1), True),
        (GroupSizes(1, 0), True),  # kops: "must configure at least one Node InstanceGroup"
        (GroupSizes(0, 2), True),
    ],
)
def test_a_spec_with_fewer_machines_than_asked_is_partial(sizes: GroupSizes, partial: bool) -> None:
    assert is_partial(sizes, EnvironmentSpec()) is partial
