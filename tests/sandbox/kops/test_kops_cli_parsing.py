"""The twin's command line: pflag/cobra parsing, kops's messages, names and formats (no AWS)."""

from __future__ import annotations

import io

import pytest

from sandbox.kops.cli import (
    CREATE_CLUSTER_FLAGS,
    Parsed,
    main,
    parse_cloud_labels,
    parse_command_line,
    render_table,
)
from sandbox.kops.exceptions import KopsError
from sandbox.kops.utils import parse_go_duration, resource_name32, split_network


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def parse(*args: str) -> tuple[Parsed, list[str]]:
    deprecations: list[str] = []
    return parse_command_line(list(args), deprecations), deprecations


@pytest.mark.parametrize(
    ("args", "out"),
    [(["version"], "Client version: 1.36.2 (git-v1.36.2)\n"), (["version", "--short"], "1.36.2\n")],
)
def test_version(args: list[str], out: str) -> None:
    assert run(*args) == (0, out, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "cluster", "x", "--foo"], "Error: unknown flag: --foo\n"),
        (["validate", "cluster", "-x"], "Error: unknown shorthand flag: 'x' in -x\n"),
        (["validate", "cluster", "--name"], "Error: flag needs an argument: --name\n"),
        (["create", "cluster", "x", "--node-count", "two"], 'Error: invalid argument "two" for'),
        (["frobnicate"], 'Error: unknown command "frobnicate" for "kops"\n'),
        (["get", "cluster", "x"], "Error: State Store: Required value: Please set the --state flag"),
        # Feature-flagged in kops 1.36: not registered unless the feature flag is on.
        (["create", "cluster", "x", "--config-base", "s3://b"], "Error: unknown flag: --config-base"),
    ],
    ids=["unknown-flag", "unknown-shorthand", "missing-value", "bad-int", "unknown-command",
         "no-state", "feature-flagged"],
)  # fmt: skip
def test_command_line_errors_exit_1_like_cobra(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 1
    assert out == ""
    assert err.startswith(message)


def test_flag_errors_print_usage_but_command_errors_do_not() -> None:
    assert "Usage:\n  kops get clusters" in run("get", "cluster", "--foo")[2]
    assert "Usage:" not in run("get", "cluster", "x")[2]


def test_deprecated_flags_parse_into_their_replacement_with_cobras_warning() -> None:
    parsed, deprecations = parse(
        "create", "cluster", "x", "--master-size", "t3.large", "--master-zones=a,b"
    )
    assert parsed.values["control-plane-size"] == ["t3.large"]
    assert parsed.values["control-plane-zones"] == ["a", "b"]
    assert deprecations == [
        "Flag --master-size has been deprecated, use --control-plane-size instead",
        "Flag --master-zones has been deprecated, use --control-plane-zones instead",
    ]


def test_deprecation_warnings_reach_stderr() -> None:
    code, _, err = run("create", "cluster", "x", "--master-count", "1")
    assert err.splitlines()[0] == (
        "Flag --master-count has been deprecated, use --control-plane-count instead"
    )
    assert code == 1  # then fails for want of a state store, as kops would


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export", "kubecfg", "c", "--admin"], 18 * 3600.0),
        (["export", "kubecfg", "c", "--admin=2h"], 7200.0),
        (["export", "kubeconfig", "--admin=1h30m", "c"], 5400.0),
    ],
)
def test_admin_has_an_optional_value(args: list[str], expected: float) -> None:
    parsed, _ = parse(*args)
    assert parsed.command == "export kubeconfig"
    assert parsed.values["admin"] == expected
    assert parsed.args == ["c"]


def test_admin_with_a_separate_value_takes_it_as_a_positional_argument() -> None:
    parsed, _ = parse("export", "kubecfg", "c", "--admin", "2h")
    assert parsed.args == ["c", "2h"]  # which kops then refuses as two cluster names


@pytest.mark.parametrize(
    "args",
    [
        ["--state", "s3://b", "validate", "cluster", "--name", "c", "-o", "json"],
        ["validate", "--state=s3://b", "cluster", "-ojson", "--name=c"],
        ["validate", "cluster", "-o=json", "--name", "c", "--state", "s3://b"],
    ],
    ids=["flags-first", "interleaved", "shorthand-equals"],
)
def test_flags_anywhere_and_in_every_spelling(args: list[str]) -> None:
    parsed, _ = parse(*args)
    assert parsed.command == "validate cluster"
    assert parsed.values["state"] == "s3://b"
    assert parsed.values["output"] == "json"
    assert parsed.values["name"] == "c"


def test_bool_flags_and_repeated_slices() -> None:
    parsed, _ = parse(
        "create", "cluster", "c", "-y", "--zones", "a", "--zones=b,c", "--bastion=false"
    )
    assert parsed.values["yes"] is True
    assert parsed.values["bastion"] is False
    assert parsed.values["zones"] == ["a", "b", "c"]


def test_every_reference_flag_is_known_to_the_twin() -> None:
    from pathlib import Path

    data = (
        Path(__file__).resolve().parents[2]
        / "data"
        / "kops-1.36-create-cluster-flags-annotated.txt"
    )
    gated = set()
    names = set()
    for line in data.read_text().splitlines():
        if line.startswith("--"):
            columns = [c.strip() for c in line.split("|")]
            name = columns[0].split()[0][2:]
            names.add(name)
            if "feature flag" in columns[3]:
                gated.add(name)
            else:
                flag = CREATE_CLUSTER_FLAGS[name]
                assert bool(flag.deprecated) == ("DEPRECATED" in columns[2]), name
    assert set(CREATE_CLUSTER_FLAGS) == names - gated


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("foo=bar,fib=baz", {"foo": "bar", "fib": "baz"}),
        ('foo=bar,"fib"="baz"', {"foo": "bar", "fib": "baz"}),
        ('"fo\\""o"=bar,"fi\\b"="baz"', {'fo\\"o': "bar", "fi\\b": "baz"}),
        (
            'Owner=John Doe,dn="cn=John Doe: dc=example dc=com", foo/bar=fib+baz',
            {"Owner": "John Doe", "dn": "cn=John Doe: dc=example dc=com", "foo/bar": "fib+baz"},
        ),
        ("empty=", {"empty": ""}),
    ],
    ids=["none", "plain", "quoted-key", "escaped-quote", "kops-private-sample", "empty-value"],
)
def test_cloud_labels_parse_like_kops(text: str, expected: dict[str, str]) -> None:
    # Cases from kops v1.36 cmd/kops/create_cluster_test.go and the "private" integration test.
    assert parse_cloud_labels(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('fo"o=bar,fib=baz', "malformed"),
        ("fo,o=bar,fib=baz", "malformed"),
        ("a=b=c", "malformed"),
        ("Name=x", 'spec.cloudLabels.Name: Forbidden: "Name" is a reserved label'),
        ("kops.k8s.io/x=1", '"kops.k8s.io/" is a reserved label prefix'),
    ],
)
def test_cloud_labels_kops_refuses(text: str, message: str) -> None:
    with pytest.raises(KopsError, match=message):
        parse_cloud_labels(text)


def test_tables_align_with_tabs_like_kops() -> None:
    table = render_table(["NAME", "CLOUD", "ZONES"], [["c.k8s.local", "aws", "a,c"]])
    assert table == "NAME\t\tCLOUD\tZONES\nc.k8s.local\taws\ta,c\n"


@pytest.mark.parametrize(
    ("cluster", "prefix", "expected"),
    [
        ("mycluster", "bastion", "bastion-mycluster-vnrjie"),
        ("mycluster.example.com", "bastion", "bastion-mycluster-example-o8elkm"),
        ("this.is.a.very.long.cluster.example.com", "api", "api-this-is-a-very-long-c-q4ukp4"),
        ("this.is.a.very.long.cluster.example.com", "bastion", "bastion-this-is-a-very-lo-4ggpa2"),
    ],
)
def test_resource_names_match_kops(cluster: str, prefix: str, expected: str) -> None:
    # The grid of kops v1.36 upup/pkg/fi/cloudup/awsup/aws_utils_test.go.
    assert resource_name32(cluster, prefix) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("10s", 10.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "2 h", "h", "1d"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)


def test_network_layout_follows_kops() -> None:
    # One zone in 172.20.0.0/16: kops's "private" integration test expects these two CIDRs.
    assert split_network("172.20.0.0/16", ["us-test-1a"]) == {
        "us-test-1a": ("172.20.128.0/17", "172.20.0.0/20")
    }
    two = split_network("127.20.0.0/16", ["a", "c"])
    assert two == {
        "a": ("127.20.64.0/18", "127.20.0.0/21"),
        "c": ("127.20.128.0/18", "127.20.8.0/21"),
    }
