"""EC2 gap 24: instances launched from a launch template lack its interface groups and profile.

kops puts a node's security groups on the template's primary network interface
(``NetworkInterfaces[0].Groups``) and names its instance profile in ``IamInstanceProfile``. moto
5.2.5 reads only the template's top-level ``SecurityGroupIds``/``SecurityGroups`` and never the
profile, so every instance its Auto Scaling launches for kops has no security group (the
default group sits on its interface) and no instance profile. The AWS cloud controller then
skips such instances ("No security group found for instance"). AWS launches them with both, and
refuses the launch (InvalidParameterValue) when the template's profile does not exist; the patch
checks that before it launches, so a refused launch leaves no instance behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceBackend, Reservation
from moto.ec2.utils import filter_iam_instance_profiles

from sandbox.aws.gaps.patching import wrap


def _primary_interface_groups(template_data: dict[str, Any]) -> list[str]:
    for interface in template_data.get("NetworkInterfaces") or []:
        if str(interface.get("DeviceIndex", "0")) == "0":
            return list(interface.get("Groups") or [])
    return []


def _require_profile(backend: InstanceBackend, profile: dict[str, Any]) -> None:
    try:
        filter_iam_instance_profiles(
            backend.account_id,  # type: ignore[attr-defined]
            partition=backend.partition,  # type: ignore[attr-defined]
            iam_instance_profile_arn=profile.get("Arn"),
            iam_instance_profile_name=profile.get("Name"),
        )
    except ServiceException as missing:
        named = profile.get("Name") or profile.get("Arn")
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ({named}) for parameter iamInstanceProfile is invalid. "
            "Invalid IAM Instance Profile name",
        ) from missing


def _patched_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(
        self: InstanceBackend,
        image_id: str,
        count: int,
        user_data: Any,
        security_group_names: list[str],
        **kwargs: Any,
    ) -> Reservation:
        template_arg = kwargs.get("launch_template")
        if not template_arg:
            return original(self, image_id, count, user_data, security_group_names, **kwargs)
        data = self._get_template_from_args(template_arg).data
        groups = _primary_interface_groups(data)
        if groups and not security_group_names and not kwargs.get("security_group_ids"):
            kwargs["security_group_ids"] = groups
        profile = data.get("IamInstanceProfile") or {}
        explicit = kwargs.get("iam_instance_profile_name") or kwargs.get("iam_instance_profile_arn")
        if profile and not explicit:
            _require_profile(self, profile)
        reservation: Reservation = original(
            self, image_id, count, user_data, security_group_names, **kwargs
        )
        if profile and not explicit:
            for instance in reservation.instances:
                self.associate_iam_instance_profile(  # type: ignore[attr-defined]
                    instance.id,
                    iam_instance_profile_name=profile.get("Name"),
                    iam_instance_profile_arn=profile.get("Arn"),
                )
        return reservation

    return run_instances


def apply() -> None:
    """Install the launch-template patch."""
    wrap(InstanceBackend, "run_instances", _patched_run_instances)
