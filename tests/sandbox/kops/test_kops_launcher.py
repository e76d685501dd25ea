"""The twin's ``kops`` with real kops inside: which commands run real kops, and with what."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.config import Faults, SandboxConfig
from sandbox.kops import cli, launcher
from sandbox.kops.executable import RealKopsLaunch, install_executable
from sandbox.kops.real import RealKops

CHANNEL = "file:///cache/channels/stable"
TWIN_VPC = "127.20.0.0/16"


def test_create_cluster_gets_the_twins_channel_and_range() -> None:
    argv = ["create", "cluster", "c.k8s.local", "--yes"]
    assert launcher.real_argv(argv, channel=CHANNEL, vpc_cidr=TWIN_VPC) == [
        *argv,
        "--channel",
        CHANNEL,
        "--network-cidr",
        TWIN_VPC,
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "cluster", "c", "--network-cidr", "127.30.0.0/16", "--channel", "stable"],
        ["create", "cluster", "c", "--network-cidr=127.30.0.0/16", "--channel=stable"],
        ["update", "cluster", "c", "--yes"],  # the spec keeps the channel create was given
        ["delete", "cluster", "c", "--yes"],
        ["version", "--short"],
    ],
)
def test_what_the_caller_names_and_other_commands_pass_unchanged(argv: list[str]) -> None:
    assert launcher.real_argv(argv, channel=CHANNEL, vpc_cidr=TWIN_VPC) == argv


def test_real_kops_reads_the_state_store_with_the_callers_aws_settings() -> None:
    caller = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_REGION": "ap-northeast-1",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "KOPS_STATE_STORE": "s3://state",
    }
    env = launcher.real_env(
        caller, base_url="http://127.0.0.1:9999", proxy_url="http://127.0.0.1:3128"
    )
    assert env.items() >= caller.items()
    assert (env["S3_ENDPOINT"], env["S3_REGION"]) == ("http://127.0.0.1:4566", "ap-northeast-1")
    assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == ("key", "secret")
    assert env["KOPS_BASE_URL"] == "http://127.0.0.1:9999"
    # HTTPS (the API load balancer) goes through the VPC proxy; plain HTTP leads nowhere.
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:3128"
    assert env["HTTP_PROXY"] == launcher.DEAD_PROXY


@pytest.mark.parametrize("command", ["validate", "export", "create", "delete"])
def test_every_command_runs_real_kops(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli, "main", lambda *_, **__: pytest.fail("the emulated kops ran"))
    monkeypatch.setattr(os, "execve", lambda path, argv, env: ran.append((path, argv, env)))
    env = {
        "SANDBOX_REAL_KOPS": "/cache/kops",
        "SANDBOX_KOPS_CHANNEL": CHANNEL,
        "SANDBOX_KOPS_BASE_URL": "http://127.0.0.1:9999",
        "SANDBOX_VPC_CIDR": TWIN_VPC,
        "SANDBOX_VPC_PROXY": "http://127.0.0.1:3128",
    }
    launcher.main([command, "cluster", "c.k8s.local"], env=env)
    ((path, argv, real_env),) = ran
    assert (path, argv[:3]) == ("/cache/kops", ["/cache/kops", command, "cluster"])
    assert real_env["HTTPS_PROXY"] == "http://127.0.0.1:3128"


def test_the_installed_kops_runs_real_kops_and_logs_its_command_line(tmp_path: Path) -> None:
    launch = RealKopsLaunch(RealKops.find(), "http://127.0.0.1:9", TWIN_VPC, "http://127.0.0.1:9")
    path = install_executable(tmp_path / "bin", kube_api_url="", config_path=None, real=launch)
    script = path.read_text()
    assert "-m sandbox.kops.launcher" in script
    log = tmp_path / "argv.jsonl"
    env: dict[str, Any] = {
        "PATH": f"{path.parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SANDBOX_KOPS_ARGV_LOG": str(log),
    }
    done = subprocess.run(
        ["kops", "version"], env=env, capture_output=True, text=True, check=False, cwd=tmp_path
    )
    # The emulated kops adds a git id (`(git-v1.36.2)`); this build of real kops has none.
    assert (done.returncode, done.stdout) == (0, "Client version: 1.36.2\n"), done.stderr
    assert json.loads(log.read_text()) == ["version"]


VALID = {
    "nodes": [
        {"name": "ip-cp", "zone": "ap-northeast-1a", "role": "control-plane", "status": "True"},
        {"name": "ip-a", "zone": "ap-northeast-1a", "role": "node", "status": "True"},
        {"name": "ip-c", "zone": "ap-northeast-1c", "role": "node", "status": "True"},
    ]
}


def fake_kops(tmp_path: Path, report: dict[str, Any]) -> Path:
    """An executable that answers every validation with ``report`` and exit 0."""
    path = tmp_path / "kops"
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(report)}\nEOF\n")
    path.chmod(0o755)
    return path


def test_injected_flaps_fail_passes_after_the_first_in_real_kops_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kops = fake_kops(tmp_path, VALID)
    record = tmp_path / "kops-faults" / "c.k8s.local.json"
    outcomes = []
    for _ in range(4):
        code = launcher.validate_with_flaps([str(kops)], {}, record, flaps_wanted=2)
        out, err = capsys.readouterr()
        outcomes.append((code, json.loads(out), err))
    assert [code for code, _, _ in outcomes] == [0, 1, 1, 0]  # first pass, two flaps, pass
    assert outcomes[0][1] == outcomes[3][1] == VALID  # passes go through untouched
    for flap, (_, report, err) in enumerate(outcomes[1:3]):
        assert err == "Error: validation failed: cluster not yet healthy\n"
        (failure,) = report["failures"]
        victim = ["ip-a", "ip-c"][flap]  # worker nodes in turn, never the control plane
        assert (failure["type"], failure["name"]) == ("Node", victim)
        assert failure["message"] == f'node "{victim}" of role "node" is not ready'
        assert failure["instanceGroup"]["metadata"]["name"].startswith("nodes-ap-northeast-1")
        assert {n["name"]: n["status"] for n in report["nodes"]}[victim] == "False"


def test_flaps_are_injected_only_when_the_config_asks(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    argv = ["validate", "cluster", "--name", "c.k8s.local", "--state", "s3://x", "-o", "json"]
    config.write_text(SandboxConfig.instant().to_toml())
    assert launcher.flap_record(argv, {"SANDBOX_CONFIG": str(config)}) is None
    flapping = replace(SandboxConfig.instant(), faults=Faults(validate_flaps=1))
    config.write_text(flapping.to_toml())
    env = {"SANDBOX_CONFIG": str(config)}
    assert launcher.flap_record(argv, env) == (tmp_path / "kops-faults/c.k8s.local.json", 1)
    assert launcher.flap_record(argv[:-2], env) is None  # a table: not touched
    assert launcher.flap_record(["get", "cluster", "c.k8s.local"], env) is None
    assert launcher.flap_record(argv, {}) is None
