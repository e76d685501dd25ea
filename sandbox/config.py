"""The twin's knobs: simulated latencies and injected faults, read from a TOML file.

Defaults are small so the demo feels alive; tests use ``SandboxConfig.instant()``; benchmarks
raise the latencies to realistic values and scale them down by a factor.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the AWS twin loads moto: the kops twin reads this file and must stay quick
    from sandbox.aws.faults import AwsFaults

DEFAULT_SECONDS_TO_HEALTHY = 20.0  # the cloud controller's check: interval 10 s, 2 passes


@dataclass(frozen=True)
class Delays:
    """Seconds until things the cloud does on its own are done."""

    node_ready: float = 8.0  # instance launched -> Node Ready (kops validate passes)
    nlb_active: float = 4.0  # NLB created -> State active
    target_healthy: float = 3.0  # target registered -> healthy with the default health check
    ssm_online: float = 3.0  # instance running with an SSM profile -> PingStatus Online
    ssm_command: float = 0.0  # extra time before a Run Command starts

    def health_check_second(self) -> float:
        """Return how long one second of the NLB health checks' clock lasts in the twin.

        ``target_healthy`` is the time a new target takes with the target group's default
        check (two passes, 10 s apart: 20 health-check seconds); the group's actual interval
        and thresholds then decide every transition, registered or lost.
        """
        return self.target_healthy / DEFAULT_SECONDS_TO_HEALTHY

    def scaled(self, factor: float) -> Delays:
        """The same delays, each multiplied by `factor`."""
        return Delays(**{k: v * factor for k, v in asdict(self).items()})


@dataclass(frozen=True)
class Faults:
    """Injected failures; rates are fractions of calls, seeded."""

    aws_throttle_rate: float = 0.0
    kube_5xx_rate: float = 0.0
    validate_flaps: int = 0  # times `kops validate` fails again after first passing
    ssm_lost_rate: float = 0.0  # Run Commands whose invocation never shows up
    ssm_slow_seconds: float = 0.0  # extra seconds every Run Command takes
    invocation_visible_after: float = 0.0  # InvocationDoesNotExist window after SendCommand
    ec2_request_limit_rate: float = 0.0  # EC2 calls answered RequestLimitExceeded
    insufficient_capacity_zone: str = ""  # RunInstances there: InsufficientInstanceCapacity
    instance_visible_after: float = 0.0  # DescribeInstances by id: NotFound this long after launch
    ssm_connection_lost_rate: float = 0.0  # Run Commands during which the agent disconnects
    ssm_connection_lost_seconds: float = 0.0  # how long it stays ConnectionLost
    seed: int = 7

    def aws(self) -> AwsFaults:
        """Return the AWS endpoint's share of these faults."""
        from sandbox.aws.faults import AwsFaults

        return AwsFaults(
            throttle_rate=self.aws_throttle_rate,
            seed=self.seed,
            invocation_visible_after=self.invocation_visible_after,
            ec2_request_limit_rate=self.ec2_request_limit_rate,
            insufficient_capacity_zone=self.insufficient_capacity_zone,
            instance_visible_after=self.instance_visible_after,
            ssm_connection_lost_rate=self.ssm_connection_lost_rate,
            ssm_connection_lost_seconds=self.ssm_connection_lost_seconds,
        )


@dataclass(frozen=True)
class SandboxConfig:
    """Everything configurable about the twin."""

    region: str = "ap-northeast-1"
    aws_port: int = 4566
    kube_port: int = 6443
    proxy_port: int = 3128  # the VPC proxy (HTTPS_PROXY), the way in to internal API NLBs
    vpc_cidr: str = "127.20.0.0/16"
    pod_cidr: str = "127.96.0.0/12"
    # "real": the twin's `kops` runs real kops 1.36 (`make upstream`) for every command;
    # "emulated": sandbox/kops for all of them.
    kops: str = "real"
    delays: Delays = field(default_factory=Delays)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if self.kops not in ("real", "emulated"):
            raise ValueError(f'kops = "{self.kops}": the twin runs "real" or "emulated" kops')

    @classmethod
    def instant(cls, **overrides: Any) -> SandboxConfig:
        """A config with every delay zero and no faults, for tests (ports picked freely)."""
        zero = Delays().scaled(0.0)
        return replace(
            cls(aws_port=0, kube_port=0, proxy_port=0, delays=zero, faults=Faults()), **overrides
        )

    def scaled(self, factor: float) -> SandboxConfig:
        """The same config with every delay multiplied by `factor`."""
        return replace(self, delays=self.delays.scaled(factor))

    def to_toml(self) -> str:
        """Render as TOML (the format `load` reads)."""
        lines = [f'region = "{self.region}"', f"aws_port = {self.aws_port}"]
        lines += [f"kube_port = {self.kube_port}", f"proxy_port = {self.proxy_port}"]
        lines += [f'vpc_cidr = "{self.vpc_cidr}"']
        lines += [f'pod_cidr = "{self.pod_cidr}"', f'kops = "{self.kops}"', "", "[delays]"]
        lines += [f"{k} = {v}" for k, v in asdict(self.delays).items()]
        lines += ["", "[faults]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in asdict(self.faults).items()]
        return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def load(path: Path | None) -> SandboxConfig:
    """Read a config file; missing file or keys fall back to the defaults."""
    if path is None or not path.exists():
        return SandboxConfig()
    raw = tomllib.loads(path.read_text())
    delays = Delays(**raw.pop("delays", {}))
    faults = Faults(**raw.pop("faults", {}))
    return SandboxConfig(**raw, delays=delays, faults=faults)
