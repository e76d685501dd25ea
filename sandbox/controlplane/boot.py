"""A control-plane instance booted the way nodeup boots one: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and (given the instance's cloud) the AWS cloud controller
manager, real programs on loopback, from the cluster's spec and keysets in the state store.

The apiserver is set up as kops sets it up: client-certificate authentication, ``Node,RBAC``
authorization, kops's admission plugins, service-account keys from the ``service-account``
keyset, request-header authentication for the front proxy, and the kubelets reached on their
InternalIP. Data lives under the given directory; each program's pid is recorded beside it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
from pathlib import Path

from sandbox.controlplane.binaries import Binaries
from sandbox.controlplane.certificates import LOOPBACK, ControlPlaneFiles
from sandbox.controlplane.cloud_controller import (
    KOPS_CLOUD_CONFIG,
    CloudSettings,
    cloud_controller_argv,
    cloud_controller_env,
)
from sandbox.controlplane.processes import Child, StartFailed
from sandbox.kops.pki import Keypair

DEFAULT_SERVICE_CIDR = "100.64.0.0/13"  # kops's default serviceClusterIPRange
ADMISSION_PLUGINS = (
    "DefaultStorageClass,DefaultTolerationSeconds,LimitRanger,MutatingAdmissionWebhook,"
    "NamespaceLifecycle,NodeRestriction,ResourceQuota,RuntimeClass,ServiceAccount,"
    "ValidatingAdmissionPolicy,ValidatingAdmissionWebhook"
)
START_TIMEOUT = 60.0
RESTART_CHECK_S = 1.0

log = logging.getLogger(__name__)


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback TCP ports nobody listens on now.

    Every probe stays bound until all are chosen: a port released by one probe may be handed
    straight to the next, and two programs given one port leave the second unable to listen
    (while the first answers the second's health check)."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((LOOPBACK, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    (port,) = free_ports(1)
    return port


def service_cidr_of(cluster_spec: dict[str, object]) -> str:
    """Return the cluster's service range (kops's default when the spec leaves it out)."""
    spec = cluster_spec.get("spec") or {}
    assert isinstance(spec, dict)
    networking = spec.get("networking") or {}
    assert isinstance(networking, dict)
    found = networking.get("serviceClusterIPRange") or spec.get("serviceClusterIPRange")
    return str(found or DEFAULT_SERVICE_CIDR)


class ControlPlane:
    """The programs of one cluster's control plane; ``start()`` returns when all are up.

    With ``cloud`` (the AWS the control-plane instance lives in) it runs the AWS cloud
    controller manager as well, which makes the cluster's load balancers.
    """

    def __init__(
        self,
        *,
        cluster: str,
        keysets: dict[str, Keypair],
        home: Path,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        binaries: Binaries | None = None,
        apiserver_flags: tuple[str, ...] = (),
        cloud: CloudSettings | None = None,
    ) -> None:
        self.cluster = cluster
        self.cloud = cloud
        self.apiserver_flags = apiserver_flags  # added to kops's (tests that stress watches)
        self.home = home
        self.service_cidr = service_cidr
        self.keysets = keysets
        self._binaries = binaries or Binaries.find()
        self.files: ControlPlaneFiles | None = None
        self.apiserver_port = 0
        self.etcd_port = 0
        self._children: list[Child] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.started_in = 0.0

    @property
    def url(self) -> str:
        """The apiserver's URL."""
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    def start(self) -> None:
        """Write the files, then start etcd, the apiserver, and the controllers and scheduler."""
        began = time.monotonic()
        self.files = files = ControlPlaneFiles.write(
            self.home / "pki",
            cluster=self.cluster,
            keysets=self.keysets,
            service_cidr=self.service_cidr,
        )
        try:
            self.etcd_port = self._start_etcd()
            self._start_apiserver(files, self.etcd_port)
            self._start_controllers(files)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        self._stopping.clear()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"control-plane-{self.cluster}", daemon=True
        )
        self._supervisor.start()

    def _supervise(self) -> None:
        """Start a program that exited again, as the kubelet restarts a crashed static pod (the
        controller manager exits when the apiserver goes away while it sets up its controllers)."""
        while not self._stopping.wait(RESTART_CHECK_S):
            for child in list(self._children):
                if child.exited():
                    log.warning("%s exited; starting it again: %s", child.name, child.tail(3))
                    child.start()

    def _child(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, logs=self.home / "logs", pids=self.home / "pids", env=env)
        child.start()
        self._children.append(child)
        return child

    def _start_etcd(self) -> int:
        client, peer = free_ports(2)
        etcd = self._child(
            "etcd",
            [
                str(self._binaries.etcd),
                "--name=main",
                f"--data-dir={self.home / 'etcd'}",
                f"--listen-client-urls=http://{LOOPBACK}:{client}",
                f"--advertise-client-urls=http://{LOOPBACK}:{client}",
                f"--listen-peer-urls=http://{LOOPBACK}:{peer}",
                f"--initial-advertise-peer-urls=http://{LOOPBACK}:{peer}",
                f"--initial-cluster=main=http://{LOOPBACK}:{peer}",
                "--unsafe-no-fsync",  # a twin's etcd need not survive a power cut
                "--log-level=warn",
            ],
        )
        etcd.wait_until(lambda: _etcd_healthy(client), START_TIMEOUT)
        return client

    def _start_apiserver(self, files: ControlPlaneFiles, etcd_port: int) -> None:
        self.apiserver_port = free_port()
        apiserver = self._child(
            "kube-apiserver",
            [
                str(self._binaries.kube_apiserver),
                f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={files.serving.cert}",
                f"--tls-private-key-file={files.serving.key}",
                f"--client-ca-file={files.ca.cert}",
                "--anonymous-auth=false",
                "--authorization-mode=Node,RBAC",
                f"--enable-admission-plugins={ADMISSION_PLUGINS}",
                "--allow-privileged=true",
                f"--service-cluster-ip-range={self.service_cidr}",
                f"--service-account-issuer=https://api.internal.{self.cluster}",
                f"--service-account-key-file={files.service_account.key}",
                f"--service-account-signing-key-file={files.service_account.key}",
                "--api-audiences=kubernetes.svc.default",
                f"--kubelet-client-certificate={files.kubelet_client.cert}",
                f"--kubelet-client-key={files.kubelet_client.key}",
                "--kubelet-preferred-address-types=InternalIP,Hostname,ExternalIP",
                f"--requestheader-client-ca-file={files.aggregator_ca.cert}",
                "--requestheader-allowed-names=aggregator",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={files.front_proxy_client.cert}",
                f"--proxy-client-key-file={files.front_proxy_client.key}",
                "--profiling=false",
                # kops keeps the default (lease), which writes the apiserver's advertised address
                # into the `kubernetes` Service's Endpoints; here that address is 127.0.0.1, which
                # Endpoints refuse, so the reconciler would fail the same write every 10 s.
                "--endpoint-reconciler-type=none",
                *self.apiserver_flags,
            ],
        )
        context = self.admin_ssl_context()
        apiserver.wait_until(lambda: _answers(f"{self.url}/readyz", context), START_TIMEOUT)

    def _start_controllers(self, files: ControlPlaneFiles) -> None:
        names = ("kube-controller-manager", "kube-scheduler", "aws-cloud-controller-manager")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        manager = files.kubeconfig_for("kube-controller-manager", self.url)
        scheduler = files.kubeconfig_for("kube-scheduler", self.url)
        common = ["--leader-elect=false", f"--bind-address={LOOPBACK}"]
        started = [
            self._child(
                "kube-controller-manager",
                [
                    str(self._binaries.kube_controller_manager),
                    *common,
                    f"--secure-port={ports['kube-controller-manager']}",
                    f"--kubeconfig={manager}",
                    f"--authentication-kubeconfig={manager}",
                    f"--authorization-kubeconfig={manager}",
                    f"--cluster-name={self.cluster}",
                    f"--root-ca-file={files.ca.cert}",
                    f"--service-account-private-key-file={files.service_account.key}",
                    "--use-service-account-credentials=true",
                    f"--service-cluster-ip-range={self.service_cidr}",
                    "--node-monitor-period=1s",  # the not-ready taint goes soon after Ready
                ],
            ),
            self._child(
                "kube-scheduler",
                [
                    str(self._binaries.kube_scheduler),
                    *common,
                    f"--secure-port={ports['kube-scheduler']}",
                    f"--kubeconfig={scheduler}",
                    f"--authentication-kubeconfig={scheduler}",
                    f"--authorization-kubeconfig={scheduler}",
                ],
            ),
        ]
        if self.cloud is not None:
            started.append(self._start_cloud_controller(files, self.cloud, ports))
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        for child in started:
            health = f"https://{LOOPBACK}:{ports[child.name]}/healthz"
            child.wait_until(functools.partial(_answers, health, insecure), START_TIMEOUT)

    def _start_cloud_controller(
        self, files: ControlPlaneFiles, cloud: CloudSettings, ports: dict[str, int]
    ) -> Child:
        name = "aws-cloud-controller-manager"
        cloud_config = self.home / "cloud.config"
        cloud_config.write_text(KOPS_CLOUD_CONFIG)
        argv = cloud_controller_argv(
            self._binaries.cloud_controller_manager,
            cluster=self.cluster,
            cloud_config=cloud_config,
            kubeconfig=files.kubeconfig_for("cloud-controller-manager", self.url),
            port=ports[name],
        )
        return self._child(name, argv, cloud_controller_env(cloud, os.environ.get("PATH", "")))

    def admin_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the cluster CA and presents the admin certificate."""
        assert self.files is not None
        context = ssl.create_default_context(cafile=str(self.files.ca.cert))
        context.check_hostname = False  # dialled by address; the name is checked by the proxy
        context.load_cert_chain(str(self.files.admin.cert), str(self.files.admin.key))
        return context

    def pids(self) -> dict[str, int]:
        """The running programs by name."""
        return {c.name: c.pid for c in self._children if c.pid is not None}

    def stop(self) -> None:
        """Stop every program, the last started first."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
            self._supervisor = None
        for child in reversed(self._children):
            child.stop()
        self._children.clear()

    def restart_apiserver(self) -> None:
        """Stop the apiserver and start it again on the same port (tests of reconnecting)."""
        apiserver = next(c for c in self._children if c.name == "kube-apiserver")
        apiserver.stop()
        apiserver.start()
        context = self.admin_ssl_context()
        apiserver.wait_until(lambda: _answers(f"{self.url}/readyz", context), START_TIMEOUT)


def _etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=1) as response:
            return bool(json.loads(response.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


__all__ = ["ControlPlane", "StartFailed", "free_port", "service_cidr_of"]
