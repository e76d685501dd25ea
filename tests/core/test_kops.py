"""kops argv builders and output parsers (pure), checked against the kops 1.36 flag list."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from kops_nlb.core import kops as kops_cli
from kops_nlb.core.errors import SpecError
from kops_nlb.core.kops import ValidationFailure, ValidationNode, ValidationReport
from kops_nlb.core.spec import EnvironmentSpec

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = DATA / "kops"
STATE = "s3://kops-state-123456789012-ap-northeast-1-1a2b3c4d"
LABELS = (
    "kops-nlb-flows/cluster=nlb-demo.k8s.local,"
    "kops-nlb-flows/component=kops-cluster,"
    "kops-nlb-flows/managed-by=kops-nlb-flows"
)
VALIDATE_NOT_FOUND = (
    "Error: validation failed: error reading cluster configuration: "
    'Cluster.kops.k8s.io "nlb-demo.k8s.local" not found\n'
)


def _spec(**overrides: object) -> EnvironmentSpec:
    return EnvironmentSpec(**overrides)  # type: ignore[arg-type]


def _flags_in(argv: list[str]) -> list[str]:
    return [arg.split("=", 1)[0][2:] for arg in argv if arg.startswith("--")]


def _reference_flags() -> set[str]:
    return set((DATA / "kops-1.36-create-cluster-flags.txt").read_text().split())


def _deprecated_flags() -> set[str]:
    deprecated = set()
    for line in (DATA / "kops-1.36-create-cluster-flags-annotated.txt").read_text().splitlines():
        if line.startswith("--"):
            columns = [column.strip() for column in line.split("|")]
            if "DEPRECATED" in columns[2]:
                deprecated.add(columns[0].split()[0][2:])
    return deprecated


# --- argv builders ------------------------------------------------------------------------------


def test_create_cluster_argv_for_the_default_spec() -> None:
    argv = kops_cli.create_cluster_argv(_spec(), STATE)
    assert argv == [
        "create", "cluster", "nlb-demo.k8s.local",
        "--state", STATE,
        "--cloud", "aws",
        "--zones", "ap-northeast-1a,ap-northeast-1c",
        "--control-plane-zones", "ap-northeast-1a",
        "--control-plane-size", "t3.medium",
        "--control-plane-count", "1",
        "--node-size", "t3.medium",
        "--node-count", "2",
        "--node-volume-size", "20",
        "--kubernetes-version", "1.35.5",
        "--networking", "calico",
        "--topology", "private",
        "--dns", "none",
        "--cloud-labels", LABELS,
        "--yes",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"control_plane_count": 1}, ["ap-northeast-1a"]),
        ({"control_plane_count": 3}, ["ap-northeast-1a", "ap-northeast-1c"]),
        (
            {
                "control_plane_count": 3,
                "zones": ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"),
            },
            ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"],
        ),
    ],
    ids=["one", "three-over-two-zones", "three-over-three-zones"],
)
def test_control_plane_zones_never_outnumber_control_plane_nodes(
    overrides: dict[str, object], expected: list[str]
) -> None:
    # kops refuses "specified 2 control-plane zones, but also requested 1 control-plane nodes".
    spec = _spec(**overrides)
    argv = kops_cli.create_cluster_argv(spec, STATE)
    assert argv[argv.index("--control-plane-zones") + 1] == ",".join(expected)
    assert argv[argv.index("--control-plane-count") + 1] == str(spec.control_plane_count)


def test_create_cluster_argv_with_network_cidr_and_extra_tags() -> None:
    spec = _spec(
        network_cidr=IPv4Network("127.20.0.0/16"), extra_tags={"team": "net", "cost": "a=b"}
    )
    argv = kops_cli.create_cluster_argv(spec, STATE)
    assert argv[argv.index("--network-cidr") + 1] == "127.20.0.0/16"
    labels = argv[argv.index("--cloud-labels") + 1]
    assert labels.startswith('cost="a=b",kops-nlb-flows/cluster=nlb-demo.k8s.local,')
    assert labels.endswith(",team=net")
    assert "Name=" not in labels


def test_the_load_balancer_controller_is_asked_of_kops_as_its_addon_with_cert_manager() -> None:
    assert "--set" not in kops_cli.create_cluster_argv(_spec(), STATE)
    argv = kops_cli.create_cluster_argv(
        _spec(load_balancer_controller="aws-load-balancer-controller"), STATE
    )
    sets = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
    assert sets == [
        "spec.certManager.enabled=true",
        "spec.cloudProvider.aws.loadBalancerController.enabled=true",
    ]
    assert argv[-1] == "--yes"


def test_every_flag_passed_exists_in_kops_1_36_and_none_is_deprecated() -> None:
    spec = _spec(
        network_cidr=IPv4Network("127.20.0.0/16"),
        extra_tags={"team": "x"},
        load_balancer_controller="aws-load-balancer-controller",
    )
    used = set(_flags_in(kops_cli.create_cluster_argv(spec, STATE)))
    reference = _reference_flags()
    deprecated = _deprecated_flags()
    assert used <= reference | {"state"}, used - reference
    assert not used & deprecated
    assert {"master-size", "master-zones", "master-count"} <= deprecated  # the file is read right


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (
            lambda spec: kops_cli.get_cluster_argv(spec, STATE),
            ["get", "cluster", "nlb-demo.k8s.local", "--state", STATE, "-o", "json"],
        ),
        (
            lambda spec: kops_cli.validate_cluster_argv(spec, STATE),
            ["validate", "cluster", "--name", "nlb-demo.k8s.local", "--state", STATE, "-o", "json"],
        ),
        (
            lambda spec: kops_cli.validate_cluster_argv(spec, STATE, wait="10m", count=2),
            [
                "validate",
                "cluster",
                "--name",
                "nlb-demo.k8s.local",
                "--state",
                STATE,
                "-o",
                "json",
                "--wait",
                "10m",
                "--count",
                "2",
            ],
        ),
        (
            lambda spec: kops_cli.export_kubecfg_argv(spec, STATE, "/w/.kube/c.yaml"),
            [
                "export",
                "kubecfg",
                "nlb-demo.k8s.local",
                "--state",
                STATE,
                "--admin=2h",
                "--kubeconfig",
                "/w/.kube/c.yaml",
            ],
        ),
        (
            lambda spec: kops_cli.delete_cluster_argv(spec, STATE),
            ["delete", "cluster", "nlb-demo.k8s.local", "--state", STATE, "--yes"],
        ),
        (lambda spec: kops_cli.version_argv(), ["version", "--short"]),
    ],
    ids=["get", "validate", "validate-wait", "export", "delete", "version"],
)
def test_command_argv(builder: object, expected: list[str]) -> None:
    assert builder(_spec()) == expected  # type: ignore[operator]


def test_admin_lifetime_is_attached_with_equals() -> None:
    # `--admin` has an optional value: `--admin 2h` would make "2h" the cluster name.
    argv = kops_cli.export_kubecfg_argv(_spec(admin_credential_ttl="90m"), STATE, "k.yaml")
    assert "--admin=90m" in argv
    assert "90m" not in argv


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, ""),
        ({"team": "net", "env": "dev"}, "env=dev,team=net"),
        ({"dn": "cn=John Doe: dc=example"}, 'dn="cn=John Doe: dc=example"'),
        ({"q": 'say "hi"'}, 'q="say ""hi"""'),
        ({"pad": " leading"}, 'pad=" leading"'),
        ({"empty": ""}, "empty="),
        ({"Owner": "John Doe", "foo/bar": "fib+baz"}, "Owner=John Doe,foo/bar=fib+baz"),
    ],
    ids=["none", "plain", "equals", "quotes", "leading-space", "empty", "spaces-slashes"],
)
def test_format_cloud_labels(labels: dict[str, str], expected: str) -> None:
    assert kops_cli.format_cloud_labels(labels) == expected


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"a": "x,y"}, "comma"),
        ({"a,b": "x"}, "comma"),
        ({"a": "line\nbreak"}, "line break"),
        ({"Name": "x"}, "reserved"),
        ({"KubernetesCluster": "x"}, "reserved"),
        ({"kubernetes.io/cluster/x": "owned"}, "reserved"),
        ({"k8s.io/role/node": "1"}, "reserved"),
        ({"kops.k8s.io/instancegroup": "x"}, "reserved"),
    ],
)
def test_format_cloud_labels_refuses_what_kops_cannot_take(
    labels: dict[str, str], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        kops_cli.format_cloud_labels(labels)


def test_kops_env_points_kubeconfig_at_the_project_file() -> None:
    env = kops_cli.kops_env(
        state_store=STATE,
        kubeconfig="/work/.kube/c.yaml",
        base={"PATH": "/bin", "KUBECONFIG": "~/.kube/config"},
    )
    assert env == {"PATH": "/bin", "KOPS_STATE_STORE": STATE, "KUBECONFIG": "/work/.kube/c.yaml"}


# --- parsers ------------------------------------------------------------------------------------


def test_parse_validation_of_a_healthy_cluster_without_failures_key() -> None:
    report = kops_cli.parse_validation((SAMPLES / "validate-healthy.json").read_text())
    assert report.ok
    assert report.failures == ()
    assert (report.nodes_ready, report.nodes_expected) == (3, 3)
    assert report.progress() == "3/3 nodes ready"
    assert report.nodes[0] == ValidationNode(
        name="i-0f3c2b1a4d5e6f708",
        zone="ap-northeast-1a",
        role="control-plane",
        hostname="i-0f3c2b1a4d5e6f708",
        status="True",
    )


def test_parse_validation_of_a_cluster_with_node_and_pod_failures() -> None:
    report = kops_cli.parse_validation((SAMPLES / "validate-not-ready.json").read_text())
    assert not report.ok
    assert [f.type for f in report.failures] == ["Machine", "Node", "Pod", "Pod"]
    assert report.failures[1] == ValidationFailure(
        type="Node",
        name="i-0a1b2c3d4e5f60718",
        message='node "i-0a1b2c3d4e5f60718" of role "node" is not ready',
        instance_group="nodes-ap-northeast-1a",
    )
    assert report.failures[3].instance_group is None
    assert (report.nodes_ready, report.nodes_expected) == (1, 3)
    assert report.failure_summaries() == tuple(sorted(report.failure_summaries()))
    assert report.failure_summaries()[0].startswith('Machine i-09e8d7c6b5a493827: machine "')


def test_parse_validation_keeps_the_last_of_concatenated_objects() -> None:
    text = (SAMPLES / "validate-wait-concatenated.json").read_text()
    assert text.count("}{") == 2  # three attempts back to back, no separators
    report = kops_cli.parse_validation(text)
    assert report.ok
    assert report.nodes_ready == 3


@pytest.mark.parametrize(
    ("stdout", "expected_failures", "expected_nodes"),
    [
        ("{}", 0, 0),
        ('{"failures":[{"type":"dns","name":"apiserver","message":"x"}]}', 1, 0),
        ('{"nodes":[]}\n{"nodes":[{"name":"a","status":"False"}]}\n', 0, 1),
        ('W1125 12:00:00.000000 1 x.go:1] noise\n{"nodes":[{"name":"a","status":"True"}]}', 0, 1),
        ('{"failures":[{"type":"Node","name":"a","message":"m"}]}{"broken":', 1, 0),
    ],
    ids=["empty-object", "dns", "newline-separated", "log-before", "truncated-tail"],
)
def test_parse_validation_table(stdout: str, expected_failures: int, expected_nodes: int) -> None:
    report = kops_cli.parse_validation(stdout)
    assert (len(report.failures), len(report.nodes)) == (expected_failures, expected_nodes)


@pytest.mark.parametrize(
    "stdout",
    [
        (SAMPLES / "validate-table.txt").read_text(),
        "",
        "Error: validation failed: cluster not yet healthy\n",
        "[1, 2]",
    ],
    ids=["table-output", "empty", "error-text", "array"],
)
def test_parse_validation_refuses_what_is_not_a_json_report(stdout: str) -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        kops_cli.parse_validation(stdout)


def test_nodes_expected_counts_missing_instance_group_members() -> None:
    text = (SAMPLES / "validate-wait-concatenated.json").read_text()
    first_attempt, _ = json.JSONDecoder().raw_decode(text)
    report = kops_cli.parse_validation(json.dumps(first_attempt))
    # 0 nodes reported, 2 machines not joined, one group short by one.
    assert (report.nodes_ready, report.nodes_expected) == (0, 3)


def test_failure_summaries_are_stable_and_deduplicated() -> None:
    first = ValidationFailure(type="Node", name="b", message="node b")
    second = ValidationFailure(type="Machine", name="a", message="machine a")
    one = ValidationReport(failures=(first, second, first))
    other = ValidationReport(failures=(second, first))
    assert (
        one.failure_summaries()
        == other.failure_summaries()
        == (
            "Machine a: machine a",
            "Node b: node b",
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.36.2\n", "1.36.2"),
        ("Client version: 1.36.2 (git-v1.36.2)\n", "1.36.2"),
        ("Client version: 1.37.0-beta.1 (git-v1.37.0-beta.1)", "1.37.0-beta.1"),
        ("v1.34.3", "1.34.3"),
    ],
)
def test_parse_version(text: str, expected: str) -> None:
    assert kops_cli.parse_version(text) == expected


def test_parse_version_refuses_text_without_a_version() -> None:
    with pytest.raises(ValueError, match="no kops version"):
        kops_cli.parse_version("kops: command not found")


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.33.9", False),
        ("1.34.0", True),
        ("1.36.2", True),
        ("1.37.0-beta.1", True),
        ("1.38.0", False),
        ("2.0.0", False),
    ],
)
def test_supported_versions(version: str, supported: bool) -> None:
    assert kops_cli.is_supported_version(version) is supported


@pytest.mark.parametrize(
    ("stderr", "name", "expected"),
    [
        ('Error: cluster not found "nlb-demo.k8s.local"\n', "nlb-demo.k8s.local", True),
        (VALIDATE_NOT_FOUND, "nlb-demo.k8s.local", True),
        ('Error: cluster "nlb-demo.k8s.local" not found', None, True),
        ('Error: cluster not found "other.k8s.local"\n', "nlb-demo.k8s.local", False),
        ("Error: State Store: Required value: Please set the --state flag", None, False),
        ("Error: validation failed: cluster not yet healthy", None, False),
    ],
    ids=["get", "validate", "generic", "other-cluster", "no-state", "not-healthy"],
)
def test_is_cluster_not_found(stderr: str, name: str | None, expected: bool) -> None:
    assert kops_cli.is_cluster_not_found(stderr, name) is expected


# --- runner -------------------------------------------------------------------------------------
