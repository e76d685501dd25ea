"""boto3 clients built from plain values.

The endpoint comes from boto3's own configuration chain (``AWS_ENDPOINT_URL``, profiles), which
is how the same code reaches real AWS or the local twin.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from kops_nlb.core.naming import dict_to_tags, tags_to_dict

__all__ = ["aws_client", "dict_to_tags", "paginate", "tags_to_dict"]

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 6},
    user_agent_extra="kops-nlb-flows",
    connect_timeout=10,
    read_timeout=60,
)


# Building a client parses its service model (~0.4 s for EC2) and a session parses the endpoint
# rules; clients are thread-safe, so one per service, region and configuration is shared, all of
# a region's made by one session (under the lock: sessions are not thread-safe). The key holds
# what selects the endpoint and the credentials' identity, so switching either (tests, the twin)
# gets a fresh session and clients; every session reads the models through one loader, which
# keeps what it parsed.
_SELECTING_ENV = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_CONFIG_FILE")
_sessions: dict[tuple[str | None, ...], Any] = {}
_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()
_loader = botocore.loaders.create_loader()


def aws_client(service: str, region: str) -> Any:
    """Return a boto3 client for a service in a region, with standard retries."""
    where = (region, *(os.environ.get(name) for name in _SELECTING_ENV))
    key = (service, *where)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            session = _sessions.get(where)
            if session is None:
                session = _sessions[where] = _new_session(region)
            client = _clients[key] = session.client(service, config=_CLIENT_CONFIG)
        return client


def _new_session(region: str) -> Any:
    """A boto3 session configured from the environment, reading models through the shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    session = boto3.session.Session(botocore_session=core, region_name=region)
    # Each boto3 session appends its data directory to the loader's search paths again.
    _loader.search_paths[:] = dict.fromkeys(_loader.search_paths)
    return session


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Return every item under `key` across all pages of a paginated operation."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items
