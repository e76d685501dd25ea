"""The twin's emulated kops (sandbox/kops) against what real kops 1.36.2 did for the same command.

Every recording of the first scenario in ``fixtures/`` is replayed, in the order it was recorded, through the twin's
``kops`` (in this process, against the same twin AWS), and compared on what the product relies
on: the exit code, whether stdout carries output and of what kind, and kops's ``Error:`` line.
The differences that remain are named in ``KNOWN_DIFFERENCES`` with their reason, and asserted
to be exactly those, so a change on either side shows up here.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from sandbox.aws import AwsServer
from sandbox.config import SandboxConfig
from sandbox.kops.cli import main as twin_kops
from tests.contract import realkops
from tests.contract.realkops import REGION
from tests.contract.recordings import Recording, load, substitute

pytestmark = pytest.mark.contract

RECORDED_ORDER = (
    "version-short",
    "version",
    "get-cluster-missing",
    "get-cluster-no-state-store",
    "get-cluster-missing-bucket",
    "validate-cluster-missing",
    "export-kubecfg-missing",
    "delete-cluster-missing",
    "get-clusters-none",
    "create-cluster-unknown-flag",
    "create-cluster-deprecated-flag",
    "create-cluster-bad-dns",
    "create-cluster-dry-run",
    "create-cluster-spec-only",
    "get-cluster",
    "get-instancegroups",
    "validate-cluster-spec-only",
    "create-cluster-exists",
    "update-cluster",
    "validate-cluster-api-unreachable",
    "export-kubecfg",
    "delete-cluster",
    "get-cluster-deleted",
)
# Recorded in a whole twin whose cluster booted (a real control plane): not replayed here, where
# only the twin's AWS runs; the default twin runs real kops for them anyway.
LIVE_RECORDINGS = ("validate-cluster-not-ready", "validate-cluster", "delete-cluster-live")
CLOSED_PORT_API = "http://127.0.0.1:9"  # the twin's Kubernetes API, not answering
KNOWN_DIFFERENCES = {
    "version": "real kops built here has no git id (`1.36.2`); the twin prints the release "
    "binary's `1.36.2 (git-v1.36.2)`",
}
_MASKS = (
    (re.compile(r"RequestID: [^,]*, HostID: [^,]*,"), "RequestID: *, HostID: *,"),
    (re.compile(r"(error listing nodes:).*"), r"\1 *"),
)


@pytest.fixture(scope="module")
def twin_runs(
    twin_aws: AwsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[int, str, str]]]:
    """Every recording replayed through the twin's kops, by name: (exit code, stdout, stderr)."""
    work = tmp_path_factory.mktemp("twin-kops")
    config = work / "sandbox.toml"
    config.write_text(SandboxConfig.instant().to_toml())
    bucket = "kops-state-contract"
    boto3.client(
        "s3",
        endpoint_url=twin_aws.url,
        region_name=REGION,
        aws_access_key_id=realkops.STATE_ACCESS_KEY,
        aws_secret_access_key=realkops.STATE_ACCESS_KEY,
    ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    placeholders = {
        "$AWS_ENDPOINT_URL": twin_aws.url,
        "$KOPS_BASE_URL": "http://127.0.0.1:9/",
        "$CHANNEL": realkops.channel_path().resolve().as_uri(),
        "$WORK": str(work),
    }
    env = realkops.environment(aws_url=twin_aws.url, region=REGION, home=work / "home")
    # The twin's kops runs in this process: no dead proxy for it. urllib builds its global
    # opener (and reads the proxy variables) once, so a proxy set here would outlive the test.
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"):
        del env[proxy]
    env.update(
        KOPS_STATE_STORE=f"s3://{bucket}",
        KUBECONFIG=str(work / "kubeconfig"),
        SANDBOX_CONFIG=str(config),
    )
    runs: dict[str, tuple[int, str, str]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in RECORDED_ORDER:
            recorded = load(name)
            run_env = dict(env)
            if name == "get-cluster-no-state-store":
                del run_env["KOPS_STATE_STORE"]
            if name == "validate-cluster-api-unreachable":
                run_env["SANDBOX_KUBE_API_URL"] = CLOSED_PORT_API
            for key in ("KOPS_STATE_STORE", "SANDBOX_KUBE_API_URL"):
                patch.delenv(key, raising=False)
            for key, value in run_env.items():
                patch.setenv(key, value)
            out, err = io.StringIO(), io.StringIO()
            argv = [substitute(arg, placeholders) for arg in recorded.argv]
            code = twin_kops(argv, env=run_env, stdout=out, stderr=err, sleep=lambda _s: None)
            runs[name] = (code, out.getvalue(), err.getvalue())
    yield runs


def _errors(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    for pattern, replacement in _MASKS:
        lines = [pattern.sub(replacement, line) for line in lines]
    return lines


def _stdout_kind(stdout: str) -> Any:
    """Return what stdout carries: nothing, JSON objects (kind, name), YAML objects, or text."""
    if not stdout.strip():
        return "empty"
    try:
        value = json.loads(stdout)
    except ValueError:
        pass
    else:
        items = value if isinstance(value, list) else [value]
        return ("json", [(i.get("kind"), i["metadata"]["name"]) for i in items])
    if stdout.startswith("apiVersion:"):
        docs = [d for d in yaml.safe_load_all(stdout) if d]
        return ("yaml", [(d["kind"], d["metadata"]["name"]) for d in docs])
    return "text"


def _differences(recorded: Recording, twin: tuple[int, str, str]) -> list[str]:
    code, out, err = twin
    found = []
    if code != recorded.exit_code:
        found.append(f"exit code: real {recorded.exit_code}, twin {code}")
    if _stdout_kind(out) != _stdout_kind(recorded.stdout):
        found.append(
            f"stdout: real {_stdout_kind(recorded.stdout)}, twin {_stdout_kind(out)} "
            f"(twin stdout starts {out[:120]!r})"
        )
    if _errors(err) != _errors(recorded.stderr):
        found.append(f"error: real {_errors(recorded.stderr)}, twin {_errors(err)}")
    if recorded.name == "version-short" and out != recorded.stdout:
        found.append(f"version: real {recorded.stdout!r}, twin {out!r}")
    if recorded.name == "version" and out != recorded.stdout:
        found.append("long version line")
    return found


@pytest.mark.parametrize("name", RECORDED_ORDER)
def test_the_twin_answers_like_real_kops(
    name: str, twin_runs: dict[str, tuple[int, str, str]]
) -> None:
    differences = _differences(load(name), twin_runs[name])
    if name in KNOWN_DIFFERENCES:
        assert differences == ["long version line"], KNOWN_DIFFERENCES[name]
    else:
        assert differences == [], f"twin differs from real kops on {name}"


def test_every_recording_is_compared() -> None:
    recorded = sorted(path.stem for path in Path(realkops.__file__).parent.glob("fixtures/*.json"))
    assert recorded == sorted(RECORDED_ORDER + LIVE_RECORDINGS)
