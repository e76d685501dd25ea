"""boto3 sessions that share one botocore loader per process (no moto: the kops twin uses it).

A session parses the endpoint rules, and each client its service model (EC2's takes most of a
second); sessions on one loader read each file once however many are made.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session

_loader = botocore.loaders.create_loader()


def shared_loader_session(
    region: str, *, access_key_id: str | None = None, secret_access_key: str | None = None
) -> Any:
    """Return a new boto3 session for ``region``; without keys, credentials come from the
    environment as for any client. Sessions are not thread-safe: callers share them under a lock."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    session = boto3.session.Session(
        botocore_session=core,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )
    # Each boto3 session appends its data directory to the loader's search paths again.
    _loader.search_paths[:] = dict.fromkeys(_loader.search_paths)
    return session
