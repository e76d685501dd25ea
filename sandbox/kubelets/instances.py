"""What boots on the twin's EC2 instances, driven by what runs in the twin's AWS.

Every half second its kubelets do what is due. It looks at the running instances again (as kwok's
node provider would) when the twin's AWS has served an EC2 or Auto Scaling write since its last
look, and every few seconds in any case. A cluster whose control-plane instance runs gets its
control plane booted from the state store in the instance's user data (``ClusterHost.boot``) and
routed through the API front proxy; its cloud controller learns who it is from the metadata
endpoint the twin serves for that instance. Every running instance of a booted cluster gets a
simulated kubelet. When the control-plane instance is gone, so is the control plane.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sandbox.aws.clients import twin_client
from sandbox.aws.instance_metadata import InstanceMetadataServer
from sandbox.aws.server import INFRASTRUCTURE_ACCESS_KEY_ID
from sandbox.controlplane.cloud_controller import CloudSettings
from sandbox.controlplane.front_proxy import FrontProxy
from sandbox.dataplane.pods import PodServers
from sandbox.kops.state import StateStore
from sandbox.kubelets.cluster_host import ClusterHost, config_base
from sandbox.kubelets.node_objects import is_control_plane, tag
from sandbox.stopping import stop_each

log = logging.getLogger(__name__)

CLUSTER_TAG = "KubernetesCluster"
POLL_SECONDS = 0.5
LOOK_SECONDS = 5.0  # the longest between two looks at the instances


class InstanceHosts:
    """Boots and stops control planes and kubelets as instances come and go."""

    def __init__(
        self,
        *,
        aws_url: str,
        region: str,
        home: Path,
        proxy: FrontProxy,
        pods: PodServers,
        pod_cidr: str,
        ready_delay: float,
        on_change: Callable[[], None] = lambda: None,
        serves: Callable[[str], bool] = lambda _cluster: True,
        machine_writes: Callable[[], int] | None = None,
    ) -> None:
        """``machine_writes`` counts the writes that can start or stop instances (the twin's
        ``AwsServer.machine_writes``); without it, every poll looks at the instances."""
        self._region = region
        self._aws_url = aws_url
        self._home = home
        self._proxy = proxy
        self._pods = pods
        self._ready_delay = ready_delay
        self._on_change = on_change
        self._serves = serves  # which clusters' machines to run (all, in the twin)
        self._ec2, self._s3 = (
            twin_client(
                service,
                region=region,
                endpoint_url=aws_url,
                access_key_id=INFRASTRUCTURE_ACCESS_KEY_ID,
                secret_access_key="twin",
            )
            for service in ("ec2", "s3")
        )
        self._pod_ranges: Iterator[ipaddress.IPv4Network] = ipaddress.IPv4Network(pod_cidr).subnets(
            new_prefix=24
        )
        self._pod_cidrs: dict[str, str] = {}
        self.clusters: dict[str, ClusterHost] = {}
        self._metadata: dict[str, InstanceMetadataServer] = {}  # per cluster: its control plane's
        self._failed: set[str] = set()  # control-plane instances whose boot failed
        self._machine_writes = machine_writes
        self._seen_writes: int | None = None
        self._looked_at = 0.0
        self._running: dict[str, list[dict[str, Any]]] = {}  # by cluster, as last looked at
        self._stopped: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start watching instances."""
        self._thread = threading.Thread(target=self._run, name="instance-hosts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, then every cluster's kubelets and control plane."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            stop_each(*(functools.partial(self._shut_down, name) for name in list(self.clusters)))

    def host(self, cluster: str | None = None) -> ClusterHost | None:
        """Return a booted cluster (the named one, else the most recently booted)."""
        with self._lock:
            if cluster is not None:
                return self.clusters.get(cluster)
            return next(reversed(self.clusters.values()), None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("looking at instances failed; trying again")
            self._stop.wait(POLL_SECONDS)

    def poll(self) -> None:
        """Boot, sync and stop what the running instances call for, looking at them again first
        when they may have changed."""
        writes = self._machine_writes() if self._machine_writes is not None else None
        now = time.monotonic()
        if writes is None or writes != self._seen_writes or now - self._looked_at >= LOOK_SECONDS:
            self._running, self._stopped = self._look()
            self._seen_writes, self._looked_at = writes, now
        with self._lock:
            by_cluster = self._running
            for name in [n for n in self.clusters if not _has_control_plane(by_cluster.get(n))]:
                self._shut_down(name)
            for name, instances in by_cluster.items():
                if name not in self.clusters and _has_control_plane(instances):
                    self._boot(name, instances)
                if name in self.clusters:
                    self.clusters[name].sync(instances, self._pod_cidr_for, self._stopped)

    def _look(self) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
        """The running instances by cluster, and the stopped ones."""
        by_cluster: dict[str, list[dict[str, Any]]] = {}
        stopped: set[str] = set()  # their Nodes stay until the instance is gone
        pages = self._ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running", "stopping", "stopped"]}]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if not self._serves(tag(instance, CLUSTER_TAG)):
                        continue
                    if instance["State"]["Name"] != "running":
                        stopped.add(instance["InstanceId"])
                        continue
                    by_cluster.setdefault(tag(instance, CLUSTER_TAG), []).append(instance)
        return by_cluster, stopped

    def _boot(self, name: str, instances: list[dict[str, Any]]) -> None:
        control = next(i for i in instances if is_control_plane(i))
        if control["InstanceId"] in self._failed:
            return
        user_data = self._ec2.describe_instance_attribute(
            InstanceId=control["InstanceId"], Attribute="userData"
        ).get("UserData", {})
        base = config_base(user_data.get("Value", ""))
        if base is None:
            return  # not launched by kops: nothing boots
        store_url, _, cluster = base.rstrip("/").rpartition("/")
        metadata = InstanceMetadataServer(
            functools.partial(self._describe, control["InstanceId"]), self._region
        ).start()
        try:
            host = ClusterHost.boot(
                store=StateStore.from_url(store_url, self._s3),
                cluster=cluster,
                home=self._home / "clusters" / cluster,
                pods=self._pods,
                region=self._region,
                ready_delay=self._ready_delay,
                cloud=self._cloud(metadata.url),
            )
        except Exception:
            metadata.stop()
            self._failed.add(control["InstanceId"])
            log.exception("the control plane of %s did not boot", name)
            return
        self.clusters[name] = host
        self._metadata[name] = metadata
        self._proxy.add(host.control_plane)
        self._on_change()

    def _shut_down(self, name: str) -> None:
        host = self.clusters.pop(name)
        self._proxy.remove(host.cluster)
        stop_each(host.stop, self._metadata.pop(name).stop, self._on_change)
        log.info("control plane of %s stopped", name)

    def _describe(self, instance_id: str) -> dict[str, Any]:
        found = self._ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return dict(found[0]["Instances"][0])

    def _cloud(self, metadata_url: str) -> CloudSettings:
        """The twin's AWS as the cloud controller sees it; it signs with the twin's own key, so
        the fault knobs (which stand for what the product meets) leave it alone."""
        return CloudSettings(
            aws_url=self._aws_url,
            region=self._region,
            metadata_url=metadata_url,
            access_key_id=INFRASTRUCTURE_ACCESS_KEY_ID,
            secret_access_key="twin",
        )

    def _pod_cidr_for(self, instance_id: str) -> str:
        if instance_id not in self._pod_cidrs:
            self._pod_cidrs[instance_id] = str(next(self._pod_ranges))
        return self._pod_cidrs[instance_id]


def _has_control_plane(instances: list[dict[str, Any]] | None) -> bool:
    return any(is_control_plane(i) for i in instances or [])
