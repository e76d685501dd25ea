"""Re-record ``tests/contract/fixtures/`` from real kops against the twin.

Run by ``make contract-record`` (which builds kops first). Two scenarios. First, against the
twin's AWS alone: the errors kops gives without a cluster, the flags it refuses, a dry run, then
a cluster's life with the product's own argv: its spec written without ``--yes`` (the
half-created state), applied with ``kops update cluster --yes``, validated while no API answers,
exported and deleted. Then, in a whole twin whose clusters boot (real control plane, simulated
kubelets): validate while the machines join, and once the cluster is valid. Everything runs on
loopback.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import boto3
import yaml

from sandbox.aws import AwsServer
from sandbox.config import SandboxConfig
from sandbox.kops.assets import AssetServer
from sandbox.world import World
from tests import loopback
from tests.contract import realkops
from tests.contract.product import (
    EnvironmentSpec,
    create_cluster_argv,
    delete_cluster_argv,
    export_kubecfg_argv,
    get_cluster_argv,
    kops_env,
    validate_cluster_argv,
    version_argv,
)
from tests.contract.recordings import FIXTURES, Recording, normalise, save

REGION = "ap-northeast-1"
BUCKET = "kops-state-contract"
MISSING_BUCKET = "kops-state-contract-missing"
LIVE_BUCKET = "kops-state-contract-live"
MISSING_CLUSTER = "missing.k8s.local"
REDACTED = "REDACTED"
SECRET_KEYS = ("certificate-authority-data", "client-certificate-data", "client-key-data")
NODES_JOIN_AFTER_S = 10.0  # an instance's node turns Ready this long after its launch
LIVE_TIMEOUT_S = 180.0


class Recorder:
    """Runs real kops and writes each run as a fixture."""

    def __init__(self, *, binary: Path, env: dict[str, str], placeholders: dict[str, str]):
        self.binary = binary
        self.env = env
        self.placeholders = placeholders

    def __call__(
        self, name: str, argv: Sequence[str], note: str, *, env: dict[str, str] | None = None
    ) -> realkops.Run:
        run = realkops.run(self.binary, argv, env or self.env)
        self.save(name, run, note)
        return run

    def save(self, name: str, run: realkops.Run, note: str) -> None:
        """Write one run as the fixture ``name``."""
        recording = Recording(
            name=name,
            note=note,
            argv=[normalise(arg, self.placeholders) for arg in run.argv],
            exit_code=run.code,
            stdout=normalise(run.out, self.placeholders),
            stderr=normalise(run.err, self.placeholders),
        )
        print(f"{name}: exit {run.code}", file=sys.stderr)
        save(recording)


def _without(argv: Sequence[str], *flags: str) -> list[str]:
    """Return argv without each ``--flag value`` pair named."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            out.append(arg)
    return out


def _replace(argv: Sequence[str], old: str, new: str) -> list[str]:
    return [new if arg == old else arg for arg in argv]


def _save_kubeconfig(path: Path, placeholders: dict[str, str]) -> None:
    """Keep the exported kubeconfig's shape, with its keys and certificates redacted."""
    config = yaml.safe_load(path.read_text())
    for section in ("clusters", "users"):
        for entry in config.get(section, []):
            inner = entry.get("cluster") or entry.get("user") or {}
            for key in SECRET_KEYS:
                if key in inner:
                    inner[key] = REDACTED
    text = normalise(yaml.safe_dump(config, sort_keys=True), placeholders)
    (FIXTURES / "export-kubecfg.kubeconfig.yaml").write_text(text)


def record_all(work: Path) -> None:
    """Run the whole scenario and write every fixture."""
    binary, channel = realkops.require_built()
    with AwsServer(region=REGION) as aws, AssetServer() as assets:
        boto3.client(
            "s3",
            endpoint_url=aws.url,
            region_name=REGION,
            aws_access_key_id=realkops.STATE_ACCESS_KEY,
            aws_secret_access_key=realkops.STATE_ACCESS_KEY,
        ).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        state = f"s3://{BUCKET}"
        base = realkops.environment(aws_url=aws.url, region=REGION, home=work / "home")
        base["KOPS_BASE_URL"] = assets.url
        env = kops_env(state_store=state, kubeconfig=str(work / "kubeconfig"), base=base)
        placeholders = {
            "$AWS_ENDPOINT_URL": aws.url,
            "$KOPS_BASE_URL": assets.url,
            "$CHANNEL": channel.resolve().as_uri(),
            "$WORK": str(work),
        }
        kops = Recorder(binary=binary, env=env, placeholders=placeholders)
        spec = EnvironmentSpec()
        spec_kubeconfig = work / "nlb-demo.kubeconfig"
        missing = EnvironmentSpec(cluster_name=MISSING_CLUSTER)
        create = create_cluster_argv(spec, state)
        dry_run = realkops.dry_run_argv(create, channel)
        with_channel = [*create[:-1], "--channel", placeholders["$CHANNEL"]]

        kops("version-short", version_argv(), "the preflight's version check reads this")
        kops("version", ["version"], "long form; a build without version ldflags has no git id")
        kops("get-cluster-missing", get_cluster_argv(missing, state), "existence check, absent")
        no_state = {k: v for k, v in env.items() if k != "KOPS_STATE_STORE"}
        kops(
            "get-cluster-no-state-store",
            _without(get_cluster_argv(missing, state), "--state"),
            "neither --state nor KOPS_STATE_STORE",
            env=no_state,
        )
        kops(
            "get-cluster-missing-bucket",
            get_cluster_argv(missing, f"s3://{MISSING_BUCKET}"),
            "the state-store bucket does not exist",
        )
        kops("validate-cluster-missing", validate_cluster_argv(missing, state), "absent cluster")
        kops(
            "export-kubecfg-missing",
            export_kubecfg_argv(missing, state, str(work / "missing.kubeconfig")),
            "absent cluster",
        )
        kops("delete-cluster-missing", delete_cluster_argv(missing, state), "absent cluster")
        kops("get-clusters-none", ["get", "clusters", "-o", "json"], "empty state store")
        kops("create-cluster-unknown-flag", [*dry_run, "--no-such-flag"], "cobra's unknown flag")
        kops(
            "create-cluster-deprecated-flag",
            _replace(dry_run, "--control-plane-count", "--master-count"),
            "a deprecated flag is accepted with a warning on stderr",
        )
        kops(
            "create-cluster-bad-dns",
            _replace(dry_run, "none", "nope"),
            "a value kops refuses (--dns nope)",
        )
        kops("create-cluster-dry-run", dry_run, "the product's argv, --yes dropped, as a dry run")
        kops(
            "create-cluster-spec-only",
            with_channel,
            "the product's argv without --yes: the spec is written, nothing is created "
            "(as after a create that failed in the cloud)",
        )
        kops("get-cluster", get_cluster_argv(spec, state), "a cluster whose spec exists")
        kops(
            "get-instancegroups",
            ["get", "instancegroups", "--name", spec.cluster_name, "--state", state, "-o", "json"],
            "the instance groups of that spec: one node group per zone",
        )
        kops(
            "validate-cluster-spec-only",
            validate_cluster_argv(spec, state),
            "validate before anything was applied: no CA in the state store yet",
        )
        kops(
            "create-cluster-exists",
            [*with_channel, "--yes"],
            "create again (the product's re-run) once the spec exists",
        )
        kops(
            "update-cluster",
            ["update", "cluster", spec.cluster_name, "--state", state, "--yes"],
            "apply the spec: what completes a half-created cluster",
        )
        kops(
            "validate-cluster-api-unreachable",
            validate_cluster_argv(spec, state),
            "applied, but no API answers at the load balancer's name (here: every connection "
            "that leaves loopback goes to a closed port)",
        )
        kops(
            "export-kubecfg",
            export_kubecfg_argv(spec, state, str(spec_kubeconfig)),
            "admin credentials, 2h",
        )
        _save_kubeconfig(spec_kubeconfig, placeholders)
        kops("delete-cluster", delete_cluster_argv(spec, state), "everything kops made")
        kops("get-cluster-deleted", get_cluster_argv(spec, state), "after delete")


def _until(check: Callable[[], realkops.Run | None], what: str) -> realkops.Run:
    """Call ``check`` until it returns a run; fail after ``LIVE_TIMEOUT_S``."""
    deadline = time.monotonic() + LIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        if (run := check()) is not None:
            return run
        time.sleep(0.5)
    raise RuntimeError(f"no {what} within {LIVE_TIMEOUT_S:.0f}s")


def record_live_validation(work: Path) -> None:
    """Record validate's reports from a cluster whose API answers, in the twin: real kops, a real
    control plane and simulated kubelets. First while its machines are joining, then valid."""
    addresses = loopback.claim()
    instant = SandboxConfig.instant(vpc_cidr=addresses.vpc_cidr, pod_cidr=addresses.pod_cidr)
    joining = replace(instant.delays, node_ready=NODES_JOIN_AFTER_S)
    world = World(replace(instant, delays=joining), work / "twin")
    endpoints = world.start()
    try:
        base = {"PATH": f"{endpoints.bin_dir}:/usr/bin:/bin", "HOME": str(work / "home")}
        base |= endpoints.client_env()
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoints.aws,
            region_name=REGION,
            aws_access_key_id=base["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=base["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(
            Bucket=LIVE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        state = f"s3://{LIVE_BUCKET}"
        env = kops_env(state_store=state, kubeconfig=str(work / "live.kubeconfig"), base=base)
        placeholders = {
            "$AWS_ENDPOINT_URL": endpoints.aws,
            "$HTTPS_PROXY": endpoints.proxy,
            "$WORK": str(work),
        }
        kops = Recorder(binary=Path(endpoints.bin_dir) / "kops", env=env, placeholders=placeholders)
        spec = EnvironmentSpec()
        created = realkops.run(kops.binary, create_cluster_argv(spec, state), env)
        if created.code != 0:
            raise RuntimeError(created.explain())
        validate = validate_cluster_argv(spec, state)

        def reports_failures() -> realkops.Run | None:
            run = realkops.run(kops.binary, validate, env)
            return run if run.code != 0 and run.out.strip() else None

        def valid() -> realkops.Run | None:
            run = realkops.run(kops.binary, validate, env)
            return run if run.code == 0 else None

        kops.save(
            "validate-cluster-not-ready",
            _until(reports_failures, "report with failures"),
            "the API answers; the machines are still joining the cluster",
        )
        kops.save("validate-cluster", _until(valid, "valid report"), "every node joined, Ready")
        kops("delete-cluster-live", delete_cluster_argv(spec, state), "a cluster that ran")
    finally:
        world.stop()


def main() -> None:
    """Record every fixture into tests/contract/fixtures/."""
    with tempfile.TemporaryDirectory(prefix="kops-contract-") as work:
        record_all(Path(work))
    with tempfile.TemporaryDirectory(prefix="kops-contract-live-") as work:
        record_live_validation(Path(work))
    print(f"recorded into {FIXTURES}", file=sys.stderr)


if __name__ == "__main__":
    main()
