"""The control plane's loops the product depends on: deployments, scheduling, the kubelet.

One :class:`ClusterControllers` pass runs, in order, the
:class:`~sandbox.k8s.controllers.deployments.DeploymentController`, the
:class:`~sandbox.k8s.controllers.scheduler.Scheduler` and the
:class:`~sandbox.k8s.controllers.kubelet.Kubelet`.

Races with API clients are expected: a Conflict or NotFound skips that object until the next pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sandbox.k8s.controllers.deployments import DeploymentController
from sandbox.k8s.controllers.kubelet import Kubelet
from sandbox.k8s.controllers.scheduler import Scheduler
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.store import Obj


class ClusterControllers:
    """The deployment controller, scheduler and kubelet, run in that order on every pass."""

    def __init__(
        self,
        backend: KubeBackend,
        *,
        runtime: PodRuntime,
        allocate_ip: Callable[[Obj], str],
        seed: int = 0,
    ) -> None:
        self.deployments = DeploymentController(backend, random.Random(seed))
        self.scheduler = Scheduler(backend)
        self.kubelet = Kubelet(backend, runtime, allocate_ip)

    def reconcile(self, _server: Any = None) -> None:
        """Run one pass of every controller."""
        self.deployments.reconcile()
        self.scheduler.reconcile()
        self.kubelet.reconcile()

    def reset(self) -> None:
        """Stop every running pod and forget controller memory (after the store was reset)."""
        self.kubelet.stop_all()
        self.deployments.forget()
