"""The kubelets' node work: register each instance as a Node, turn it Ready, keep it alive.

A kubelet registers its Node NotReady as soon as its instance runs, reports Ready once the
instance has booted (``ready_delay`` seconds later), and renews its Lease in kube-node-lease
every 10 seconds, which is the heartbeat the node-lifecycle controller reads before it lifts the
``not-ready`` taint and lets the scheduler place pods. On a control-plane instance it also
posts the mirror pods of the control-plane programs. Like kwok, one controller serves every
simulated node of a cluster.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from sandbox.controlplane.binaries import KUBERNETES_VERSION
from sandbox.controlplane.client import MERGE_PATCH
from sandbox.kubelets.mirror_pods import COMPONENTS, mirror_pod
from sandbox.kubelets.node_objects import (
    is_control_plane,
    lease,
    node_object,
    node_status,
    ready_condition,
)

log = logging.getLogger(__name__)

LEASE_RENEW_SECONDS = 10.0
STATUS_REPORT_SECONDS = 60.0


@dataclass
class NodeAgent:
    """One simulated kubelet's memory."""

    instance: dict[str, Any]
    pod_cidr: str
    first_seen: float
    registered: bool = False
    ready: bool = False
    ready_since: float = 0.0
    renewed: float = 0.0
    reported: float = 0.0

    @property
    def name(self) -> str:
        """The Node's name (the instance's private DNS name, as on AWS)."""
        return str(self.instance["PrivateDnsName"])

    @property
    def ip(self) -> str:
        """The node's InternalIP."""
        return str(self.instance["PrivateIpAddress"])


class NodeHeartbeats:
    """Registers, readies and heartbeats the Nodes of one cluster's instances."""

    def __init__(self, api: client.ApiClient, *, region: str, ready_delay: float) -> None:
        self._core: Any = client.CoreV1Api(api)
        self._leases: Any = client.CoordinationV1Api(api)
        self._region = region
        self.ready_delay = ready_delay  # seconds from first sight to Ready: the boot time
        self._version = f"v{KUBERNETES_VERSION}"

    def tick(self, agent: NodeAgent, now: float | None = None) -> bool:
        """Do what is due for one node; return True once it is registered."""
        now = time.monotonic() if now is None else now
        try:
            if not agent.registered:
                self._register(agent)
            if not agent.ready and now - agent.first_seen >= self.ready_delay:
                agent.ready, agent.ready_since = True, time.time()
                self._report(agent, now)
            elif now - agent.reported >= STATUS_REPORT_SECONDS:
                self._report(agent, now)
            if now - agent.renewed >= LEASE_RENEW_SECONDS:
                self._renew(agent, now)
        except ApiException as exc:
            log.debug("node %s: %s", agent.name, exc.status)
        except (HTTPError, OSError, ValueError) as exc:  # the apiserver may be restarting
            log.debug("node %s: %s", agent.name, exc)
        return agent.registered

    def forget(self, agent: NodeAgent) -> None:
        """Delete the Node of an instance that is gone (the cloud node controller's part)."""
        try:
            self._core.delete_node(agent.name)
        except ApiException as exc:
            if exc.status != 404:
                log.debug("deleting node %s: %s", agent.name, exc.status)

    def _register(self, agent: NodeAgent) -> None:
        body = node_object(agent.instance, region=self._region, pod_cidr=agent.pod_cidr)
        try:
            self._core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._report(agent, time.monotonic())
        if is_control_plane(agent.instance):
            for component in COMPONENTS:
                try:
                    self._core.create_namespaced_pod(
                        "kube-system", mirror_pod(component, agent.name)
                    )
                except ApiException as exc:
                    if exc.status != 409:
                        raise
        agent.registered = True

    def _report(self, agent: NodeAgent, now: float) -> None:
        status = node_status(agent.instance, ready=agent.ready, version=self._version)
        if agent.ready:
            condition = ready_condition(True)
            condition["lastTransitionTime"] = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(agent.ready_since)
            )
            status["conditions"] = [condition]
        self._core.patch_node_status(agent.name, {"status": status}, _content_type=MERGE_PATCH)
        agent.reported = now

    def _renew(self, agent: NodeAgent, now: float) -> None:
        body = lease(agent.name)
        try:
            self._leases.patch_namespaced_lease(
                agent.name, "kube-node-lease", {"spec": body["spec"]}, _content_type=MERGE_PATCH
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            self._leases.create_namespaced_lease("kube-node-lease", body)
        agent.renewed = now
