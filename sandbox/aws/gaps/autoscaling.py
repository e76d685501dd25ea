"""Auto Scaling gap 21: DescribeWarmPool of a group that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import AutoScalingBackend, FakeWarmPool

from sandbox.aws.gaps.patching import wrap


def _patched_describe_warm_pool(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_warm_pool(self: AutoScalingBackend, group_name: str) -> FakeWarmPool | None:
        if not self.describe_auto_scaling_groups([group_name]):
            # moto indexes an empty list (IndexError, an HTTP 500); AWS answers ValidationError,
            # which kops reads as "no group yet" while it plans a cluster's first apply.
            raise ValidationError(
                f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found"
            )
        result: FakeWarmPool | None = original(self, group_name)
        return result

    return describe_warm_pool


def apply() -> None:
    """Install the Auto Scaling patch."""
    wrap(AutoScalingBackend, "describe_warm_pool", _patched_describe_warm_pool)
