"""boto3 clients for the twin's own programs (agents, kubelets, controllers, look-ups).

A boto3 session parses the endpoint rules, and each client its service model (EC2's takes most
of a second): every client with the same region and credentials comes from one session, made
once per process, on the process's shared loader (``sandbox.boto_sessions``). Sessions are not
thread-safe, so clients are made under a lock.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config

from sandbox.boto_sessions import shared_loader_session

_sessions: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


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
            session = _sessions[key] = shared_loader_session(
                region, access_key_id=access_key_id, secret_access_key=secret_access_key
            )
        return session.client(service, endpoint_url=endpoint_url, config=config)
