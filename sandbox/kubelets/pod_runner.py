"""The kubelets' pod work: run each pod bound to a simulated node as a real nginx or curl.

One controller for all the nodes of a cluster (kwok's shape): it watches every pod, and for a
pod bound to one of its nodes it takes an address from that node's pod range, starts the pod's
nginx on it (``sandbox.dataplane.pods.PodServers`` with real nginx only) with the pod's
configMap volumes projected (``volumes``), and reports the pod Running and Ready with its podIP
and hostIP. A pod of the curl image runs once as the real curl instead (``probe_containers``),
from the node's own address when it is on the host network, and is reported Succeeded or Failed
with curl's exit code, which is what the Job controller waits for. A pod being deleted has its
nginx or curl stopped and is then removed for good (grace period 0), as the kubelet does once
its containers are gone.
Mirror pods are reported Running on the node's address: their programs run elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from sandbox.controlplane.client import MERGE_PATCH, Informer
from sandbox.dataplane.pods import PodServers
from sandbox.kubelets.mirror_pods import is_mirror
from sandbox.kubelets.pod_status import (
    is_finished,
    is_running,
    running_status,
    terminated_status,
)
from sandbox.kubelets.probe_containers import ProbeContainers, is_curl_pod
from sandbox.kubelets.volumes import MissingConfigMap, projected_files

log = logging.getLogger(__name__)


@dataclass
class NodeSlot:
    """What the pod runner knows of one of its nodes."""

    name: str
    ip: str
    pod_cidr: str


class _Addresses:
    """Pod addresses of one node: its pod range, .1 left for the node's bridge."""

    def __init__(self, cidr: str) -> None:
        self._hosts = [str(h) for h in ipaddress.IPv4Network(cidr).hosts()][1:]
        self._used: set[str] = set()

    def take(self, wanted: str | None = None) -> str:
        """Return ``wanted`` when it is free (a pod keeps its address), else the first free one."""
        free = [wanted] if wanted in self._hosts and wanted not in self._used else []
        free = free or [h for h in self._hosts if h not in self._used][:1]
        if not free:
            raise RuntimeError("the node's pod range is full")
        self._used.add(free[0])
        return free[0]

    def give_back(self, address: str) -> None:
        self._used.discard(address)


class PodRunner:
    """Runs the pods bound to the given nodes; ``add_node``/``remove_node`` as instances change."""

    def __init__(
        self, api: client.ApiClient, pods: PodServers, probes: ProbeContainers | None = None
    ) -> None:
        self._core: Any = client.CoreV1Api(api)
        self._pods = pods
        self._probes = probes or ProbeContainers()
        self._probe_keys: set[tuple[str, str]] = set()
        self._nodes: dict[str, NodeSlot] = {}
        self._addresses: dict[str, _Addresses] = {}
        self._running: dict[tuple[str, str], tuple[str, str, str]] = {}  # key -> uid, node, ip
        self._lock = threading.RLock()
        self._informer = Informer("pods", self._core.list_pod_for_all_namespaces, self._on_event)

    def start(self) -> None:
        """Start watching pods."""
        self._informer.start()

    def stop(self) -> None:
        """Stop watching and stop every pod's nginx and curl."""
        self._informer.stop()
        with self._lock:
            for key in list(self._running):
                self._stop_pod(key)
        self._probes.stop_all()

    def add_node(self, node: NodeSlot) -> None:
        """Start running the pods bound to ``node`` (those already bound included)."""
        with self._lock:
            self._nodes[node.name] = node
            self._addresses.setdefault(node.name, _Addresses(node.pod_cidr))
        self.resync()

    def remove_node(self, name: str) -> None:
        """Stop the pods of a node that went away."""
        with self._lock:
            self._nodes.pop(name, None)
            for key, (_uid, node, _ip) in list(self._running.items()):
                if node == name:
                    self._stop_pod(key)

    def resync(self) -> None:
        """Look at every cached pod again (pods that could not start are tried again)."""
        for pod in self._informer.items():
            self._on_event("MODIFIED", pod)

    def _on_event(self, kind: str, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        key = (meta["namespace"], meta["name"])
        with self._lock:
            node = self._nodes.get(spec.get("nodeName") or "")
            running = self._running.get(key)
            if running is not None and (kind == "DELETED" or running[0] != meta["uid"]):
                self._stop_pod(key)
            if node is None or kind == "DELETED":
                return
            try:
                if meta.get("deletionTimestamp"):
                    if key in self._running:
                        self._stop_pod(key)
                    self._finish_deletion(pod, key)
                elif is_mirror(pod):
                    if not is_running(pod):
                        self._report_running(pod, pod_ip=node.ip, host_ip=node.ip)
                elif is_curl_pod(pod):
                    if key not in self._running and not is_finished(pod):
                        self._start_probe(pod, key, node)
                elif key not in self._running:
                    self._start_pod(pod, key, node)
                elif not is_running(pod):
                    # The API says otherwise than what runs (the node lifecycle controller marks
                    # a node's pods not ready when its heartbeats lapse): the kubelet's status
                    # manager reports the pod's status again.
                    self._report_running(pod, pod_ip=self._running[key][2], host_ip=node.ip)
            except ApiException as exc:
                log.debug("pod %s/%s: %s", *key, exc.status)

    def _start_pod(self, pod: dict[str, Any], key: tuple[str, str], node: NodeSlot) -> None:
        try:
            files = projected_files(self._core, pod)
        except MissingConfigMap as exc:
            log.warning("pod %s/%s: MountVolume.SetUp failed: %s", *key, exc)
            return
        pod_ip = self._addresses[node.name].take((pod.get("status") or {}).get("podIP"))
        serving = {**pod, "status": {**(pod.get("status") or {}), "podIP": pod_ip}}
        if not self._pods.start(serving, files=files):
            log.warning("pod %s/%s: nginx did not start on %s", *key, pod_ip)
            self._addresses[node.name].give_back(pod_ip)
            return
        self._running[key] = (pod["metadata"]["uid"], node.name, pod_ip)
        if not is_running(pod) or pod["status"].get("podIP") != pod_ip:
            self._report_running(pod, pod_ip=pod_ip, host_ip=node.ip)

    def _start_probe(self, pod: dict[str, Any], key: tuple[str, str], node: NodeSlot) -> None:
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        pod_ip = node.ip if host_network else self._addresses[node.name].take()
        self._running[key] = (pod["metadata"]["uid"], node.name, pod_ip)
        self._probe_keys.add(key)

        def report(exit_code: int) -> None:
            body = {
                "metadata": {"uid": pod["metadata"]["uid"]},  # only this pod, not a namesake
                "status": terminated_status(
                    pod, pod_ip=pod_ip, host_ip=node.ip, exit_code=exit_code
                ),
            }
            try:
                self._core.patch_namespaced_pod_status(
                    key[1], key[0], body, _content_type=MERGE_PATCH
                )
            except ApiException as exc:
                log.debug("pod %s/%s: exit %s not reported: %s", *key, exit_code, exc.status)

        self._probes.start(pod, source_ip=pod_ip, on_exit=report)

    def _report_running(self, pod: dict[str, Any], *, pod_ip: str, host_ip: str) -> None:
        meta = pod["metadata"]
        body = {"status": running_status(pod, pod_ip=pod_ip, host_ip=host_ip)}
        self._core.patch_namespaced_pod_status(
            meta["name"], meta["namespace"], body, _content_type=MERGE_PATCH
        )

    def _finish_deletion(self, pod: dict[str, Any], key: tuple[str, str]) -> None:
        meta = pod["metadata"]
        options = client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta["uid"])
        )
        try:
            self._core.delete_namespaced_pod(meta["name"], meta["namespace"], body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def _stop_pod(self, key: tuple[str, str]) -> None:
        _uid, node, ip = self._running.pop(key)
        if key in self._probe_keys:
            self._probe_keys.discard(key)
            self._probes.stop(namespace=key[0], name=key[1])
        else:
            self._pods.stop({"metadata": {"namespace": key[0], "name": key[1]}})
        if node in self._addresses:
            self._addresses[node].give_back(ip)
