"""EC2 gaps: RunInstances idempotency (13) and a lighter AMI catalogue (17)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from moto.core.responses import ActionResult
from moto.ec2.models import amis as amis_module
from moto.ec2.models.instances import Reservation
from moto.ec2.responses.instances import InstanceResponse
from moto.utilities.utils import load_resource as _moto_load_resource

from sandbox.aws.exceptions import IdempotentParameterMismatch
from sandbox.aws.gaps.patching import twin_state, wrap


@dataclass
class _Ec2State:
    client_tokens: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], str]] = field(
        default_factory=dict
    )
    """client token -> (request fingerprint, reservation id)"""


_IDEMPOTENCY_IGNORED = {"Action", "Version", "ClientToken", "DryRun", "Placement.AvailabilityZone"}
_run_instances_lock = threading.Lock()


def _fingerprint(querystring: Mapping[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        sorted((k, tuple(v)) for k, v in querystring.items() if k not in _IDEMPOTENCY_IGNORED)
    )


def _patched_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(self: InstanceResponse) -> ActionResult:
        token = (self.querystring.get("ClientToken") or [""])[0]
        if not token:
            return cast(ActionResult, original(self))
        state = twin_state(self.ec2_backend, _Ec2State)
        fingerprint = _fingerprint(self.querystring)
        with _run_instances_lock:
            known = state.client_tokens.get(token)
            if known is not None:
                if known[0] != fingerprint:
                    raise IdempotentParameterMismatch()
                reservation: Reservation | None = self.ec2_backend.reservations.get(known[1])
                if reservation is not None:
                    return ActionResult(reservation)  # gap 13
            result = cast(ActionResult, original(self))
            launched = cast(Reservation, result.result)
            state.client_tokens[token] = (fingerprint, launched.id)
            return result

    return run_instances


_ECS_AMIS = "ec2/resources/ecs/optimized_amis/"


def _without_ecs_amis(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_resource(filename: str, *args: Any, **kwargs: Any) -> Any:
        if filename.startswith(_ECS_AMIS):
            raise FileNotFoundError(filename)  # moto's loader skips a region without the file
        return original(filename, *args, **kwargs)

    return load_resource


def apply() -> None:
    """Install the EC2 patches."""
    wrap(InstanceResponse, "run_instances", _patched_run_instances)
    if amis_module.load_resource is not _moto_load_resource:
        raise RuntimeError("moto changed: ec2.models.amis no longer loads with load_resource")
    amis_module.load_resource = _without_ecs_amis(_moto_load_resource)
