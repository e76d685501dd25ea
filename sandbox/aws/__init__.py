"""The local twin's AWS: moto over HTTP with the project's gaps filled, plus fault injection.

Start an ``AwsServer``, point product code at ``server.url`` through ``AWS_ENDPOINT_URL``, and
let the rest of the twin plug host behaviour in through the ``hooks`` setters.
"""

from __future__ import annotations

from sandbox.aws.faults import AwsFaults
from sandbox.aws.gaps import default_instance_online
from sandbox.aws.hooks import (
    CommandOutcome,
    CommandRequest,
    set_command_executor,
    set_instance_online_predicate,
    set_target_health_provider,
)
from sandbox.aws.server import AwsServer
from sandbox.aws.wire import is_write_operation

__all__ = [
    "AwsFaults",
    "AwsServer",
    "CommandOutcome",
    "CommandRequest",
    "default_instance_online",
    "is_write_operation",
    "set_command_executor",
    "set_instance_online_predicate",
    "set_target_health_provider",
]
