"""The twin and the product agree: what kops_nlb.core.kops builds, the twin parses like kops;
what the twin prints, kops_nlb.core.kops parses like real kops output."""

from __future__ import annotations

import io
import json
from ipaddress import IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kops_nlb.core import kops as kops_cli
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.kops import exceptions
from sandbox.kops.cli import main, parse_cloud_labels, parse_command_line
from sandbox.kops.validation import ValidationResult

STATE = "s3://kops-state-bucket"

_LABEL_TEXT = st.text(
    alphabet=st.characters(blacklist_characters=",\r\n", blacklist_categories=("Cs",)),
    max_size=20,
)
_LABEL_KEY = _LABEL_TEXT.filter(
    lambda key: (
        bool(key)
        and key not in kops_cli.RESERVED_LABEL_KEYS
        and not key.startswith(kops_cli.RESERVED_LABEL_PREFIXES)
    )
)


@given(st.dictionaries(_LABEL_KEY, _LABEL_TEXT, max_size=6))
def test_cloud_labels_round_trip_through_kops_parsing(labels: dict[str, str]) -> None:
    assert parse_cloud_labels(kops_cli.format_cloud_labels(labels)) == labels


@pytest.mark.parametrize(
    "spec",
    [
        EnvironmentSpec(),
        EnvironmentSpec(
            control_plane_count=3,
            node_count=5,
            network_cidr=IPv4Network("127.30.0.0/16"),
            extra_tags={"cost-center": "a=b", "owner": 'J "D" Doe'},
        ),
    ],
    ids=["default", "ha-with-tags"],
)
def test_the_create_argv_parses_without_warnings(spec: EnvironmentSpec) -> None:
    deprecations: list[str] = []
    parsed = parse_command_line(kops_cli.create_cluster_argv(spec, STATE), deprecations)
    assert deprecations == []
    assert parsed.command == "create cluster"
    assert parsed.args == [spec.cluster_name]
    values = parsed.values
    assert values["zones"] == list(spec.zones)
    assert values["control-plane-count"] == spec.control_plane_count
    assert values["node-count"] == spec.node_count
    assert values["yes"] is True
    assert parse_cloud_labels(values["cloud-labels"]) == kops_cli.cloud_labels(spec)


@pytest.mark.parametrize(
    "builder",
    [
        kops_cli.get_cluster_argv,
        kops_cli.validate_cluster_argv,
        lambda spec, state: kops_cli.export_kubecfg_argv(spec, state, "kube.yaml"),
        kops_cli.delete_cluster_argv,
    ],
)
def test_every_other_argv_parses(builder: object) -> None:
    deprecations: list[str] = []
    argv = builder(EnvironmentSpec(), STATE)  # type: ignore[operator]
    parsed = parse_command_line(argv, deprecations)
    assert parsed.values["state"] == STATE
    assert deprecations == []


@pytest.mark.parametrize("args", [["version"], ["version", "--short"]])
def test_the_version_parses(args: list[str]) -> None:
    out = io.StringIO()
    assert main(args, env={}, stdout=out, stderr=io.StringIO()) == 0
    version = kops_cli.parse_version(out.getvalue())
    assert version == "1.36.2"
    assert kops_cli.is_supported_version(version)


@pytest.mark.parametrize(
    "error",
    [exceptions.ClusterNotFound("c.k8s.local"), exceptions.ClusterConfigNotFound("c.k8s.local")],
)
def test_not_found_messages_are_recognised(error: exceptions.KopsError) -> None:
    assert kops_cli.is_cluster_not_found(f"Error: {error.message}\n", "c.k8s.local")
    assert not kops_cli.is_cluster_not_found(f"Error: {error.message}\n", "other.k8s.local")


def test_validation_json_parses() -> None:
    result = ValidationResult(
        failures=[{"type": "Node", "name": "n1", "message": 'node "n1" of role "node" is not ready',
                   "instanceGroup": {"metadata": {"name": "nodes-a"}, "spec": {"role": "Node"}}}],
        nodes=[{"name": "n1", "zone": "a", "role": "node", "hostname": "n1", "status": "False"}],
    )  # fmt: skip
    report = kops_cli.parse_validation(json.dumps(result.as_json()) * 2)
    assert report.failures[0].instance_group == "nodes-a"
    assert (report.nodes_ready, report.nodes_expected) == (0, 1)
    assert "failures" not in ValidationResult(nodes=result.nodes).as_json()
