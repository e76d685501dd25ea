"""Auto Scaling gaps: DescribeWarmPool of a group that does not exist (21), a group deleted while
one of its instances is terminated (29), and a group whose launch template or instance profile is
gone (30)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, FakeWarmPool
from moto.core.exceptions import ServiceException
from moto.ec2.models.launch_templates import LaunchTemplateBackend
from moto.iam.models import IAMBackend

from sandbox.aws.gaps.patching import wrap

log = logging.getLogger(__name__)


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


# gap 29: moto serves requests on threads. TerminateInstances replaces the instance in its group
# while DeleteAutoScalingGroup scales that group to 0 and drops it; interleaved, the replacement
# outlives the group (AWS's forced delete terminates every instance) and the replacing request
# fails with KeyError. One lock orders the two.
_group_changes = threading.RLock()


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _group_changes:
            return original(self, *args, **kwargs)

    return serialised


# gap 30: kops deletes a group's launch template and instance profile beside the group and its
# instances (the group's dependency names the template by name where kops keys it by id, so
# nothing orders them). moto launches a terminated instance's replacement inside TerminateInstances:
# on a deleted template it failed (IndexError, an HTTP 500); on a deleted profile it launched the
# instance and then failed (NoSuchEntity), leaving an instance no one knew of in the subnet. On AWS
# the termination succeeds and the group's own launch fails later, as a scaling activity. The
# replacement reads the template and the profile more than once while it launches, so deleting
# either takes the group lock too: the check below then holds for the whole launch.
def _patched_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace_autoscaling_group_instances(
        self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        template = self.ec2_launch_template
        ec2 = self.autoscaling_backend.ec2_backend
        if template is not None and not ec2.describe_launch_templates(template_ids=[template.id]):
            log.info(
                "group %s launches nothing: launch template %s is gone", self.name, template.id
            )
            return
        try:
            original(self, count_needed, propagated_tags)
        except ServiceException as refused:
            log.info("group %s could not launch a replacement: %s", self.name, refused)

    return replace_autoscaling_group_instances


def apply() -> None:
    """Install the Auto Scaling patches."""
    wrap(AutoScalingBackend, "describe_warm_pool", _patched_describe_warm_pool)
    wrap(AutoScalingBackend, "delete_auto_scaling_group", _serialised)
    wrap(AutoScalingBackend, "notify_terminate_instances", _serialised)
    wrap(FakeAutoScalingGroup, "replace_autoscaling_group_instances", _patched_replace)
    wrap(LaunchTemplateBackend, "delete_launch_template", _serialised)
    wrap(IAMBackend, "delete_instance_profile", _serialised)
