"""Fakes and builders shared by the kube-apiserver twin's tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")
TOKEN = "test-token-not-a-secret"


class RecordingRuntime:
    """A PodRuntime that records what the kubelet asks and serves canned log lines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = True
        self.started: list[str] = []  # every start() call, by pod name
        self.stopped: list[str] = []
        self.pods: dict[str, dict[str, Any]] = {}  # the last pod given to start()
        self.log_calls: list[dict[str, Any]] = []
        self.lines: list[tuple[datetime, str]] = []

    def reset(self) -> None:
        with self.lock:
            self.ready = True
            self.started.clear()
            self.stopped.clear()
            self.pods.clear()
            self.log_calls.clear()
            self.lines.clear()

    def start(self, pod: dict[str, Any]) -> bool:
        with self.lock:
            self.started.append(pod["metadata"]["name"])
            self.pods[pod["metadata"]["name"]] = pod
            return self.ready

    def stop(self, pod: dict[str, Any]) -> None:
        with self.lock:
            self.stopped.append(pod["metadata"]["name"])

    def logs(
        self,
        *,
        namespace: str,
        name: str,
        since: datetime | None,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str:
        with self.lock:
            self.log_calls.append(
                {
                    "namespace": namespace,
                    "name": name,
                    "since": since,
                    "tail_lines": tail_lines,
                    "timestamps": timestamps,
                }
            )
            lines = [(at, text) for at, text in self.lines if since is None or at >= since]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines else []
        return "".join(
            (f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {text}\n" if timestamps else f"{text}\n")
            for at, text in lines
        )


def eventually(check: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02) -> T:
    """Poll until ``check`` returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(interval)


def node_body(
    name: str, ip: str, *, ready: bool = True, control_plane: bool = False
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    else:
        labels["node-role.kubernetes.io/node"] = ""
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": f"aws:///ap-northeast-1a/i-{name}"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def deployment_body(
    name: str = "nginx", replicas: int = 2, image: str = "nginx:1.27"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }
