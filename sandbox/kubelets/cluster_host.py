"""One cluster's machines as the twin runs them: a real control plane and simulated kubelets.

``ClusterHost.boot`` does what nodeup does on the control-plane instance: read the cluster's spec
and keysets from the state store named in the instance's user data and start the control plane
from them. ``sync`` then keeps one simulated kubelet per running instance of the cluster.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from sandbox.controlplane.boot import ControlPlane, service_cidr_of
from sandbox.controlplane.client import api_client
from sandbox.controlplane.cloud_controller import CloudSettings
from sandbox.dataplane.pods import PodServers
from sandbox.kops.pki import KUBERNETES_CA, ensure_keysets, issue
from sandbox.kops.state import StateStore
from sandbox.kubelets.log_server import KubeletLogServer
from sandbox.kubelets.nodes import NodeAgent, NodeHeartbeats
from sandbox.kubelets.pod_runner import NodeSlot, PodRunner
from sandbox.kubelets.probe_containers import ProbeContainers
from sandbox.stopping import stop_each

log = logging.getLogger(__name__)

_CONFIG_BASE = re.compile(r"^ConfigBase:\s*(\S+)\s*$", re.MULTILINE)


def config_base(user_data_b64: str) -> str | None:
    """Return the state-store location kops put in an instance's user data, if any."""
    text = base64.b64decode(user_data_b64 or "").decode(errors="replace")
    match = _CONFIG_BASE.search(text)
    return match.group(1) if match else None


class ClusterHost:
    """A booted control plane and the kubelets of one cluster."""

    def __init__(
        self, control_plane: ControlPlane, *, pods: PodServers, region: str, ready_delay: float
    ) -> None:
        self.cluster = control_plane.cluster
        self.control_plane = control_plane
        files = control_plane.files
        assert files is not None
        ca = control_plane.keysets[KUBERNETES_CA]
        simulator = issue(ca, "kubelet-simulator", organizations=["system:masters"])
        pki = control_plane.home / "pki"
        (pki / "kubelet-simulator.crt").write_text(simulator.cert_pem)
        (pki / "kubelet-simulator.key").touch(mode=0o600)
        (pki / "kubelet-simulator.key").write_text(simulator.key_pem)
        self.api = api_client(
            control_plane.url,
            ca=files.ca.cert,
            cert=pki / "kubelet-simulator.crt",
            key=pki / "kubelet-simulator.key",
        )
        self.pods = pods
        self.heartbeats = NodeHeartbeats(self.api, region=region, ready_delay=ready_delay)
        self.probes = ProbeContainers()
        self.runner = PodRunner(self.api, self.pods, self.probes)
        self.logs = KubeletLogServer(self.pods, ca=ca, workdir=pki, probes=self.probes)
        self.agents: dict[str, NodeAgent] = {}
        self.runner.start()

    @classmethod
    def boot(
        cls,
        *,
        store: StateStore,
        cluster: str,
        home: Path,
        pods: PodServers,
        region: str,
        ready_delay: float,
        cloud: CloudSettings | None = None,
    ) -> ClusterHost:
        """Boot the cluster's control plane from its state store (a fresh data directory); with
        ``cloud``, its cloud controller too."""
        spec = store.cluster(cluster)
        if spec is None:
            raise RuntimeError(f"no cluster {cluster!r} in {store.url}")
        shutil.rmtree(home, ignore_errors=True)
        control_plane = ControlPlane(
            cluster=cluster,
            keysets=ensure_keysets(store, cluster),
            home=home,
            service_cidr=service_cidr_of(spec),
            cloud=cloud,
        )
        control_plane.start()
        log.info("control plane of %s up in %.1fs", cluster, control_plane.started_in)
        try:
            return cls(control_plane, pods=pods, region=region, ready_delay=ready_delay)
        except BaseException:
            control_plane.stop()
            raise

    def sync(
        self,
        instances: list[dict[str, Any]],
        pod_cidr_for: Callable[[str], str],
        stopped: Collection[str] = (),
    ) -> None:
        """Keep one kubelet per running instance; do what each kubelet has due.

        The kubelet of an instance that stops goes silent with its pods, but its Node stays
        (NotReady in time) until the instance is gone, as the cloud node controller deletes a
        Node only when its instance no longer exists; ``stopped`` are the stopped instances.
        """
        running = {i["InstanceId"]: i for i in instances}
        for instance_id, agent in list(self.agents.items()):
            if instance_id not in running:
                del self.agents[instance_id]
                self.runner.remove_node(agent.name)
                self.logs.forget(agent.ip)
                if instance_id not in stopped:
                    self.heartbeats.forget(agent)
        for instance_id, instance in running.items():
            if instance_id not in self.agents:
                self.agents[instance_id] = NodeAgent(
                    instance, pod_cidr_for(instance_id), first_seen=time.monotonic()
                )
            agent = self.agents[instance_id]
            was_registered = agent.registered
            if self.heartbeats.tick(agent) and not was_registered:
                try:
                    self.logs.serve(agent.ip)
                except OSError as exc:  # another process holds the address: no pods/log there
                    log.warning("kubelet port of %s on %s: %s", agent.name, agent.ip, exc)
                self.runner.add_node(NodeSlot(agent.name, agent.ip, agent.pod_cidr))

    def stop(self) -> None:
        """Stop the kubelets, their pods and the control plane, each even when one before fails."""
        stop_each(self.runner.stop, self.logs.stop, self.api.close, self.control_plane.stop)
