"""moto's hot paths made cheaper, with the same answers: applied once per process, after the gaps.

These change no behaviour a client can see; they remove work moto 5.2.5 repeats on every request.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core import responses as moto_responses
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def apply() -> None:
    """Install every speed-up (idempotent)."""
    _list_response_methods_once()
    _tags_by_resource()


def _list_response_methods_once() -> None:
    """Let moto list each response class's methods once, not on every request.

    To find the method of a request's action, moto lists every function of the response class
    (``inspect.getmembers`` over hundreds of them, a fifth of its time serving a call). The list
    never changes once the gaps are applied.
    """
    original = moto_responses.method_names_from_class
    if hasattr(original, "cache_info"):
        return
    moto_responses.method_names_from_class = functools.cache(  # type: ignore[assignment]
        lambda cls: frozenset(original(cls))
    )


def resource_tags(resource: Any) -> list[dict[str, str]]:
    """The tags of one EC2 resource, as moto's ``describe_tags`` filtered on its id lists them.

    moto finds them by matching a pattern against every tag of the region, and does it for each
    resource it describes or filters by tag: with a few clusters' VPCs, instances, volumes and
    interfaces, that was most of the time ``DescribeInstances`` took.
    """
    resource_id = resource.id
    if not resource_id:
        return []
    tags = resource.ec2_backend.tags.get(resource_id) or {}
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in list(tags.items())
    ]


def _tags_by_resource() -> None:
    TaggedEC2Resource.get_tags = resource_tags  # type: ignore[method-assign,assignment]
