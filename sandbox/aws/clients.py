"""boto3 clients for the twin's own programs (agents, kubelets, controllers, look-ups).

A boto3 session parses the endpoint rules, and each client its service model (EC2's takes most
of a second): every client with the same region and credentials comes from one session, made
once per process, and every session reads through one loader, which keeps what it parsed.
Sessions are not thread-safe, so clients are made under a lock.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

_sessions: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()
_loader = botocore.loaders.create_loader()


def twin_client(
    service: str,
    *,
    region: str,
    endpoint_url: str,
    access_key_id: str,
    secret_access_key: str,
    config: Config | None = None,
) -> Any:
    """Return a new client of the twin's AWS endpoint, signed with the given credentials."""
    key = (region, access_key_id, secret_access_key)
    with _lock:
        session: Any = _sessions.get(key)
        if session is None:
            core = botocore.session.get_session()
            core.register_component("data_loader", _loader)
            session = _sessions[key] = boto3.session.Session(
                botocore_session=core,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
            )
            # Each boto3 session appends its data directory to the loader's search paths again.
            _loader.search_paths[:] = dict.fromkeys(_loader.search_paths)
        return session.client(service, endpoint_url=endpoint_url, config=config)
