"""The ``pods/log`` endpoint: checks the request like kube-apiserver, then asks the pod runtime.

The kubelet's part (which lines, since when, with timestamps) is the
:class:`~sandbox.k8s.runtime.PodRuntime`'s; ``limitBytes`` is applied here.
"""

from __future__ import annotations

import asyncio
import datetime

import kmock

from sandbox.k8s import exceptions as errors
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import PODS
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.wire import int_param, is_true, text_response


async def read_pod_log(
    backend: KubeBackend, runtime: PodRuntime, name: str, namespace: str, params: dict[str, str]
) -> kmock.Response:
    """Return the log text of the Pod's (only or ``container``) container."""
    pod = backend.read(PODS, name, namespace)
    containers = [c.get("name") for c in pod["spec"].get("containers") or []]
    container = params.get("container")
    if not container:
        if len(containers) != 1:
            choices = " ".join(str(c) for c in containers)
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{choices}]"
            )
        container = str(containers[0])
    elif container not in containers:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    if not pod["spec"].get("nodeName"):
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    status = pod.get("status") or {}
    if status.get("phase") == "Pending":
        raise errors.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        )
    since_seconds = int_param(params, "sinceSeconds")
    since_time = params.get("sinceTime")
    if since_seconds is not None and since_time:
        raise errors.bad_request("at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: datetime.datetime | None = None
    if since_seconds is not None:
        if since_seconds < 1:
            raise errors.bad_request("sinceSeconds: must be greater than 0")
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=since_seconds)
    elif since_time:
        since = _parse_time(since_time)
    tail_lines = int_param(params, "tailLines")
    if tail_lines is not None and tail_lines < 0:
        raise errors.bad_request("tailLines: must be greater than or equal to 0")
    text = await asyncio.to_thread(
        runtime.logs,
        namespace=namespace,
        name=name,
        since=since,
        tail_lines=tail_lines,
        timestamps=is_true(params.get("timestamps")),
    )
    data = text.encode("utf-8")
    limit_bytes = int_param(params, "limitBytes")
    if limit_bytes is not None and limit_bytes > 0:
        data = data[:limit_bytes]
    return text_response(data)


def _parse_time(text: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise errors.bad_request(f"sinceTime: invalid RFC3339 time {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
