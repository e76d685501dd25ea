"""boto3 clients built from plain values.

The endpoint comes from boto3's own configuration chain (``AWS_ENDPOINT_URL``, profiles), which
is how the same code reaches real AWS or the local twin.
"""

from __future__ import annotations

from typing import Any, cast

import boto3
from botocore.config import Config

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 6},
    user_agent_extra="kops-nlb-flows",
    connect_timeout=10,
    read_timeout=60,
)


def aws_client(service: str, region: str) -> Any:
    """Return a boto3 client for a service in a region, with standard retries."""
    session = cast(Any, boto3.session.Session(region_name=region))
    return session.client(service, config=_CLIENT_CONFIG)


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Return every item under `key` across all pages of a paginated operation."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def tags_to_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Turn AWS's [{'Key': k, 'Value': v}] into {k: v}."""
    return {t["Key"]: t["Value"] for t in tags or []}


def dict_to_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Turn {k: v} into AWS's [{'Key': k, 'Value': v}], sorted for stable requests."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
