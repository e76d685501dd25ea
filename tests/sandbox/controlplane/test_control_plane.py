"""The twin's control plane: real programs booted from keysets, and the API front proxy."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from sandbox.controlplane.boot import ControlPlane, free_ports
from sandbox.controlplane.client import Informer, api_client
from sandbox.controlplane.front_proxy import FrontProxy, resource_key
from sandbox.controlplane.processes import Child, stop_recorded
from sandbox.kops.pki import KUBERNETES_CA, Keypair, issue, new_keysets


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    booted = ControlPlane(
        cluster="cp.k8s.local", keysets=new_keysets(), home=tmp_path_factory.mktemp("cp")
    )
    booted.start()
    yield booted
    booted.stop()


@pytest.fixture
def proxy(control_plane: ControlPlane) -> Iterator[FrontProxy]:
    front = FrontProxy(seed=3)
    front.start()
    front.add(control_plane)
    yield front
    front.stop()


def client_context(
    control_plane: ControlPlane, tmp_path: Path, who: Keypair | None
) -> ssl.SSLContext:
    assert control_plane.files is not None
    context = ssl.create_default_context(cafile=str(control_plane.files.ca.cert))
    context.check_hostname = False
    if who is not None:
        (tmp_path / "c.crt").write_text(who.cert_pem)
        (tmp_path / "c.key").write_text(who.key_pem)
        context.load_cert_chain(str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    return context


def get(url: str, context: ssl.SSLContext) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_apiserver_reports_its_release_and_runs_every_program(
    control_plane: ControlPlane, proxy: FrontProxy, tmp_path: Path
) -> None:
    assert sorted(control_plane.pids()) == [
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"
    ]  # fmt: skip
    admin = issue(control_plane.keysets[KUBERNETES_CA], "a", organizations=["system:masters"])
    status, version = get(proxy.url + "/version", client_context(control_plane, tmp_path, admin))
    assert (status, version["gitVersion"]) == (200, "v1.36.3")


def test_the_proxy_passes_the_client_certificates_identity(
    control_plane: ControlPlane, proxy: FrontProxy, tmp_path: Path
) -> None:
    jane = issue(control_plane.keysets[KUBERNETES_CA], "jane", organizations=["devs"])
    status, body = get(proxy.url + "/api/v1/secrets", client_context(control_plane, tmp_path, jane))
    assert (status, body["reason"]) == (403, "Forbidden")  # RBAC judged jane, not the proxy
    assert 'User "jane" cannot list resource "secrets"' in str(body["message"])
    status, body = get(proxy.url + "/api/v1/secrets", client_context(control_plane, tmp_path, None))
    assert (status, body["reason"]) == (401, "Unauthorized")


def test_the_proxy_injects_the_apiservers_503(
    control_plane: ControlPlane, proxy: FrontProxy, tmp_path: Path
) -> None:
    admin = issue(control_plane.keysets[KUBERNETES_CA], "a", organizations=["system:masters"])
    context = client_context(control_plane, tmp_path, admin)
    proxy.fault_5xx_rate = 1.0
    status, body = get(proxy.url + "/api/v1/namespaces", context)
    assert (status, body["kind"], body["reason"], body["code"]) == (
        503, "Status", "ServiceUnavailable", 503
    )  # fmt: skip
    assert proxy.faults_injected == 1
    assert proxy.call_counts[("GET", "v1/namespaces")] == 1
    assert get(proxy.url + "/version", context)[0] == 200  # only API paths fail
    proxy.fault_5xx_rate = 0.0
    assert get(proxy.url + "/api/v1/namespaces", context)[0] == 200


def dead(pid: int) -> bool:
    """Whether the process is gone or a zombie its parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] in "ZX"
    except (FileNotFoundError, IndexError):
        return True


def test_recorded_programs_are_stopped_by_pid(tmp_path: Path) -> None:
    child = Child("sleeper", ["/bin/sleep", "300"], logs=tmp_path, pids=tmp_path / "pids")
    child.start()
    pid = child.pid
    assert pid is not None
    cmdline = Path(f"/proc/{pid}/cmdline")
    while not cmdline.read_bytes().startswith(b"/bin/sleep\0"):  # exec'd: no longer our fork
        time.sleep(0.01)
    assert stop_recorded(tmp_path / "pids") == [pid]
    deadline = time.monotonic() + 5
    while not dead(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not (tmp_path / "pids" / "sleeper.pid").exists()


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/pods", "v1/pods"),
        ("/api/v1/namespaces/web/pods/nginx-1/log", "v1/pods/log"),
        ("/api/v1/namespaces", "v1/namespaces"),
        ("/api/v1/namespaces/web", "v1/namespaces"),
        ("/apis/apps/v1/namespaces/web/deployments/nginx", "apps/v1/deployments"),
        ("/api/v1/namespaces/web/services/nginx/status", "v1/services/status"),
        ("/api/v1/nodes/ip-1/status", "v1/nodes/status"),
        ("/version", "/version"),
        ("/apis/apps/v1", "/apis/apps/v1"),
    ],
)
def test_requests_are_counted_by_resource(path: str, key: str) -> None:
    assert resource_key(path) == key


def kube_system_uid(url: str, control_plane: ControlPlane, tmp_path: Path, name: str) -> str:
    """The kube-system namespace's UID, asked of `url` with `name` as the TLS server name."""
    from kubernetes import client

    assert control_plane.files is not None
    admin = issue(control_plane.keysets[KUBERNETES_CA], "a", organizations=["system:masters"])
    (tmp_path / "a.crt").write_text(admin.cert_pem)
    (tmp_path / "a.key").write_text(admin.key_pem)
    configuration = client.Configuration()
    configuration.host = url
    configuration.ssl_ca_cert = str(control_plane.files.ca.cert)
    configuration.cert_file = str(tmp_path / "a.crt")
    configuration.key_file = str(tmp_path / "a.key")
    configuration.tls_server_name = name
    configuration.assert_hostname = False
    with client.ApiClient(configuration) as api:
        namespace: object = client.CoreV1Api(api).read_namespace("kube-system")
        return str(namespace.metadata.uid)  # type: ignore[attr-defined]


def test_the_proxy_routes_each_client_to_the_cluster_it_names(
    control_plane: ControlPlane, proxy: FrontProxy, tmp_path_factory: pytest.TempPathFactory
) -> None:
    later = ControlPlane(
        cluster="later.k8s.local", keysets=new_keysets(), home=tmp_path_factory.mktemp("later")
    )
    later.start()
    try:
        proxy.add(later)  # the latest cluster: where clients that name none go
        tmp = tmp_path_factory.mktemp("clients")
        first = "api.internal.cp.k8s.local"
        through_proxy = kube_system_uid(proxy.url, control_plane, tmp, first)
        direct = kube_system_uid(control_plane.url, control_plane, tmp, first)
        of_later = kube_system_uid(proxy.url, later, tmp, "api.internal.later.k8s.local")
        assert through_proxy == direct
        assert of_later != direct
    finally:
        proxy.remove("later.k8s.local")
        later.stop()


def test_ports_picked_together_are_distinct_and_free() -> None:
    """The programs of one control plane get their ports in one pick: no two share one."""
    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", port))  # nobody holds it once the pick returns


def test_an_informer_stops_at_once_while_its_watch_is_open(control_plane: ControlPlane) -> None:
    """Its watch lasts a minute; stop() closes it rather than waiting it out (a twin's stop and
    every cluster's teardown stop several informers)."""
    files = control_plane.files
    assert files is not None
    api = api_client(
        control_plane.url, ca=files.ca.cert, cert=files.admin.cert, key=files.admin.key
    )
    core = client.CoreV1Api(api)
    watched = threading.Event()

    def on_event(kind: str, obj: dict[str, Any]) -> None:
        if kind == "ADDED" and obj["metadata"]["name"] == "watched":
            watched.set()

    informer = Informer("namespaces", core.list_namespace, on_event).start()
    try:
        assert informer.wait_synced(30)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="watched")))
        assert watched.wait(30)  # the watch is open: the namespace came through it
    finally:
        informer.stop()
        api.close()
    assert not informer.running


def test_an_informer_stops_when_its_watch_closed_its_socket_meanwhile() -> None:
    """The watch can end (and its thread close the socket) between stop() taking the response
    and shutting it down: stopping then finds nothing to wake, which is not an error."""

    class ClosedResponse:
        released = False

        def shutdown(self) -> None:
            raise OSError(9, "Bad file descriptor")

        def release_conn(self) -> None:
            self.released = True

    def unreachable(**_: Any) -> Any:
        raise OSError("the apiserver is not answering")

    informer = Informer("namespaces", unreachable).start()
    closed = ClosedResponse()
    informer._response = closed
    informer.stop()
    assert closed.released and not informer.running
