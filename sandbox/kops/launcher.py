"""The twin's ``kops`` with real kops inside: ``python -m sandbox.kops.launcher ARGS``.

Real kops 1.36.2 (``make upstream``) runs every command: ``create cluster``, ``update cluster``,
``get``, ``validate cluster``, ``export kubecfg``, ``delete cluster``, ``version``. It builds the
cluster's VPC, subnets, roles, launch templates and Auto Scaling groups in the twin's AWS, whose
instances boot the control plane and the kubelets, and it reaches the cluster's API at its load
balancer's AWS DNS name, as on AWS.

What the launcher adds is only what this machine lacks: the state store's S3 endpoint and
credentials (kops reads S3 through ``S3_*``, taken from the caller's ``AWS_*``), the loopback
asset site in place of kops's download site, the VPC proxy as ``HTTPS_PROXY`` (the way in to the
internal API load balancer; it refuses every other destination) and a proxy that leads nowhere
for plain HTTP, and, for ``create cluster``, the local copy of the ``stable`` channel and the
twin's VPC range in place of kops's 172.20.0.0/16 (the twin's addresses are loopback addresses)
unless the caller named a range. With the ``validate_flaps`` fault set, it runs ``validate
cluster -o json`` itself and turns passes into flaps (``sandbox.kops.flaps``).
"""

from __future__ import annotations

# Only what every command needs is imported up front: the launcher runs before each kops command.
import itertools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sandbox.kops.argv_log import log_argv
from sandbox.switches import (
    CONFIG_ENV,
    LAUNCH_BASE_URL_ENV,
    LAUNCH_BINARY_ENV,
    LAUNCH_CHANNEL_ENV,
    LAUNCH_PROXY_ENV,
    LAUNCH_VPC_CIDR_ENV,
    NO_PROXY,
)

if TYPE_CHECKING:
    from pathlib import Path

DEAD_PROXY = "http://127.0.0.1:9"  # a closed port: nothing kops fetches leaves the machine


def _names(argv: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in argv)


def real_argv(argv: Sequence[str], *, channel: str, vpc_cidr: str) -> list[str]:
    """The command line real kops gets: ``create cluster`` with the twin's channel and range."""
    args = list(argv)
    if args[:2] != ["create", "cluster"]:
        return args
    if not _names(args, "--channel"):
        args += ["--channel", channel]
    if not _names(args, "--network-cidr"):
        args += ["--network-cidr", vpc_cidr]
    return args


def real_env(env: Mapping[str, str], *, base_url: str, proxy_url: str) -> dict[str, str]:
    """The environment real kops gets: the caller's, plus the S3 endpoint, assets and proxies."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    return {
        **env,
        "S3_ENDPOINT": env.get("AWS_ENDPOINT_URL", ""),
        "S3_REGION": region,
        "S3_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", ""),
        "S3_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "KOPS_BASE_URL": base_url,
        "HTTPS_PROXY": proxy_url,
        "HTTP_PROXY": DEAD_PROXY,
        "NO_PROXY": NO_PROXY,
    }


def flap_record(argv: Sequence[str], env: Mapping[str, str]) -> tuple[Path, int] | None:
    """Where the flaps of this ``validate cluster -o json`` are counted, and how many the twin's
    config asks for; ``None`` when none are injected (then kops runs untouched)."""
    config = env.get(CONFIG_ENV)
    if list(argv[:2]) != ["validate", "cluster"] or not config or "json" not in argv:
        return None
    from pathlib import Path

    from sandbox.config import load
    from sandbox.kops import flaps

    flaps_wanted = load(Path(config)).faults.validate_flaps
    name = next((b for a, b in itertools.pairwise(argv) if a == "--name"), None)
    if not flaps_wanted or name is None:
        return None
    return flaps.faults_dir(Path(config)) / f"{name}.json", flaps_wanted


def validate_with_flaps(
    command: list[str], env: Mapping[str, str], record: Path, flaps_wanted: int
) -> int:
    """Run real ``kops validate cluster -o json``; turn a pass into a flap while any remain."""
    import json
    import subprocess

    from sandbox.kops import flaps

    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        report = json.loads(done.stdout)
        flap = flaps.flap_now(record, flaps_wanted, has_nodes=bool(report.get("nodes")))
        if flap is not None:
            sys.stdout.write(json.dumps(flaps.flapped_report(report, flap)) + "\n")
            sys.stderr.write(flaps.NOT_HEALTHY + "\n")
            return 1
    sys.stdout.write(done.stdout)
    return done.returncode


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Become real kops, with the twin's settings (for an injected validate flap, run it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    environment = dict(os.environ if env is None else env)
    log_argv(args, environment)
    binary = environment[LAUNCH_BINARY_ENV]
    command = real_argv(
        args, channel=environment[LAUNCH_CHANNEL_ENV], vpc_cidr=environment[LAUNCH_VPC_CIDR_ENV]
    )
    kops_env = real_env(
        environment,
        base_url=environment[LAUNCH_BASE_URL_ENV],
        proxy_url=environment[LAUNCH_PROXY_ENV],
    )
    if (flapping := flap_record(args, environment)) is not None:
        return validate_with_flaps([binary, *command], kops_env, *flapping)
    os.execve(binary, [binary, *command], kops_env)
    return 127  # not reached: execve replaces this process


if __name__ == "__main__":
    sys.exit(main())
