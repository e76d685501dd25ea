"""The product's kops parsers on what real kops 1.36.2 printed (``fixtures/``, recorded by
``make contract-record``): version, not-found wording, validate's shapes, JSON objects."""

from __future__ import annotations

import json

import pytest
import yaml

from kops_nlb.core.kops.instance_groups import GroupSizes, is_partial, parse_group_sizes
from tests.contract.product import (
    EnvironmentSpec,
    is_cluster_not_found,
    is_supported_version,
    parse_validation,
    parse_version,
)
from tests.contract.recordings import FIXTURES, load

pytestmark = pytest.mark.contract

CLUSTER = EnvironmentSpec().cluster_name
MISSING = "missing.k8s.local"


@pytest.mark.parametrize("name", ["version-short", "version"])
def test_the_preflight_reads_the_real_version_and_supports_it(name: str) -> None:
    recorded = load(name)
    assert recorded.exit_code == 0
    assert parse_version(recorded.stdout) == "1.36.2"
    assert is_supported_version(parse_version(recorded.stdout))


@pytest.mark.parametrize(
    ("name", "cluster"),
    [
        ("get-cluster-missing", MISSING),
        ("validate-cluster-missing", MISSING),
        ("export-kubecfg-missing", MISSING),
        ("delete-cluster-missing", MISSING),
        ("get-cluster-deleted", CLUSTER),
    ],
)
def test_a_missing_cluster_is_recognised(name: str, cluster: str) -> None:
    recorded = load(name)
    assert (recorded.exit_code, recorded.stdout) == (1, "")
    assert is_cluster_not_found(recorded.stderr, cluster)
    assert not is_cluster_not_found(recorded.stderr, "other.k8s.local")


@pytest.mark.parametrize(
    "name",
    [
        "get-cluster-no-state-store",
        "get-cluster-missing-bucket",
        "get-clusters-none",
        "validate-cluster-spec-only",
        "validate-cluster-api-unreachable",
        "create-cluster-exists",
    ],
)
def test_other_failures_are_not_taken_for_a_missing_cluster(name: str) -> None:
    """A missing bucket or state store must fail the run, never read as "create it"."""
    recorded = load(name)
    assert recorded.exit_code == 1
    assert not is_cluster_not_found(recorded.stderr, CLUSTER)
    assert not is_cluster_not_found(recorded.stderr, MISSING)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (
            "validate-cluster-spec-only",
            "Error: validation failed: getting rest config: cannot find CA certificate",
        ),
        (
            "validate-cluster-api-unreachable",
            "Error: validation failed: unexpected error during validation: error listing nodes: ",
        ),
    ],
)
def test_validate_without_an_answering_api_prints_no_report(name: str, error: str) -> None:
    """Real kops exits 1 with an empty stdout: the product must treat that as "not valid yet"
    (parse_validation raises ValueError, which its caller turns into a retried observation)."""
    recorded = load(name)
    assert (recorded.exit_code, recorded.stdout) == (1, "")
    assert recorded.error_lines()[0].startswith(error)
    with pytest.raises(ValueError, match="no JSON object"):
        parse_validation(recorded.stdout)


def test_get_cluster_prints_one_cluster_object() -> None:
    recorded = load("get-cluster")
    cluster = json.loads(recorded.stdout)
    assert (cluster["kind"], cluster["apiVersion"]) == ("Cluster", "kops.k8s.io/v1alpha2")
    assert cluster["metadata"]["name"] == CLUSTER


def test_the_spec_holds_one_node_group_per_zone() -> None:
    """kops 1.36 splits --node-count over the zones: nodes-<zone>, not one `nodes` group."""
    groups = json.loads(load("get-instancegroups").stdout)
    spec = EnvironmentSpec()
    by_role: dict[str, list[str]] = {}
    for group in groups:
        by_role.setdefault(group["spec"]["role"], []).append(group["metadata"]["name"])
    assert by_role == {
        "Master": [f"control-plane-{spec.zones[0]}"],
        "Node": [f"nodes-{zone}" for zone in spec.zones],
    }


def test_the_recorded_groups_are_the_whole_spec_and_one_missing_is_partial() -> None:
    stdout = load("get-instancegroups").stdout
    spec = EnvironmentSpec()
    assert parse_group_sizes(stdout) == GroupSizes(control_plane=1, nodes=2)
    assert not is_partial(parse_group_sizes(stdout), spec)
    without_a_node_group = json.dumps(
        [g for g in json.loads(stdout) if g["metadata"]["name"] != f"nodes-{spec.zones[1]}"]
    )
    assert parse_group_sizes(without_a_node_group) == GroupSizes(control_plane=1, nodes=1)
    assert is_partial(parse_group_sizes(without_a_node_group), spec)


def test_create_on_an_existing_spec_refuses_and_names_update() -> None:
    """What a product that re-runs `create cluster --yes` after a half-failed create gets."""
    recorded = load("create-cluster-exists")
    assert recorded.error_lines() == [
        f"Error: cluster \"{CLUSTER}\" already exists; use 'kops update cluster' to apply changes"
    ]


def test_the_exported_kubeconfig_points_at_the_api_load_balancer() -> None:
    config = yaml.safe_load((FIXTURES / "export-kubecfg.kubeconfig.yaml").read_text())
    [cluster] = config["clusters"]
    assert cluster["cluster"]["server"].startswith("https://api-nlb-demo-k8s-local-")
    assert cluster["cluster"]["server"].endswith(".elb.ap-northeast-1.amazonaws.com")
    assert cluster["cluster"]["tls-server-name"] == f"api.internal.{CLUSTER}"
    assert config["current-context"] == CLUSTER


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("create-cluster-unknown-flag", "Error: unknown flag: --no-such-flag"),
        ("create-cluster-bad-dns", 'Error: unknown DNSType: "nope"'),
    ],
)
def test_refused_flags_fail_with_kops_words(name: str, error: str) -> None:
    recorded = load(name)
    assert (recorded.exit_code, recorded.stdout) == (1, "")
    assert recorded.error_lines() == [error]


def test_a_deprecated_flag_is_accepted_with_a_warning() -> None:
    """Why the dry-run contract test also fails on deprecation warnings."""
    recorded = load("create-cluster-deprecated-flag")
    assert recorded.exit_code == 0
    assert (
        "Flag --master-count has been deprecated, use --control-plane-count instead"
        in recorded.stderr.splitlines()
    )


def test_a_cluster_whose_machines_are_joining_is_reported_not_valid() -> None:
    """Real validate against a real apiserver while nodes join: a JSON report on stdout, exit 1.
    The product must read it as "not valid yet" with the failures' kinds and groups."""
    recorded = load("validate-cluster-not-ready")
    assert recorded.exit_code == 1
    assert recorded.error_lines() == ["Error: validation failed: cluster not yet healthy"]
    report = parse_validation(recorded.stdout)
    assert not report.ok
    kinds = {failure.type for failure in report.failures}
    assert {"Machine", "Node"} <= kinds <= {"Machine", "Node", "Pod", "InstanceGroup"}
    assert any(f.type == "Machine" and "has not yet joined" in f.message for f in report.failures)
    assert any(f.type == "Node" and f.message.endswith("is not ready") for f in report.failures)
    # Machines and Nodes name their instance group; a control-plane Pod (pending) names none.
    assert {f.instance_group for f in report.failures if f.type in ("Machine", "Node")} <= {
        "control-plane-ap-northeast-1a",
        "nodes-ap-northeast-1a",
        "nodes-ap-northeast-1c",
    }
    assert all(f.instance_group is None for f in report.failures if f.type == "Pod")
    # Every machine kops expects is counted, joined or not: 1 control plane and 2 nodes.
    assert report.nodes_expected == 3
    assert report.nodes_ready < 3


def test_a_valid_cluster_is_a_report_without_failures() -> None:
    recorded = load("validate-cluster")
    assert (recorded.exit_code, recorded.stderr) == (0, "")
    report = parse_validation(recorded.stdout)
    assert report.ok
    assert sorted(node.role for node in report.nodes) == ["control-plane", "node", "node"]
    assert report.nodes_ready == report.nodes_expected == 3
    assert {node.zone for node in report.nodes} == {"ap-northeast-1a", "ap-northeast-1c"}
