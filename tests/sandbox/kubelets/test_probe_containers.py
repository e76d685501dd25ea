"""The kubelets' curl runtime: the real curl, from the pod's address, and nothing else."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.kubelets.pod_status import is_finished, terminated_status
from sandbox.kubelets.probe_containers import (
    REFUSED_EXIT,
    ProbeContainers,
    curl_arguments,
    image_repository,
    is_curl_pod,
)

SOURCE_IP = "127.0.0.77"


def curl_pod(
    args: list[str], *, image: str = "curlimages/curl:8.11.1", **extra: Any
) -> dict[str, Any]:
    container = {"name": "probe", "image": image, "args": args, **extra}
    return {
        "metadata": {"namespace": "web", "name": "probe-x", "uid": "u-1"},
        "spec": {"hostNetwork": True, "containers": [container]},
        "status": {},
    }


@pytest.fixture
def curl() -> str:
    found = shutil.which("curl")
    assert found, "the twin's curl runtime needs curl on PATH"
    return found


class Server:
    """A TCP listener on 127.0.0.1 that answers HTTP, or holds connections silently."""

    def __init__(self, *, answer: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self.answer = answer
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            if self.answer:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                conn.close()
            else:
                self.held.append(conn)


@pytest.fixture
def answering() -> Iterator[Server]:
    server = Server(answer=True)
    yield server
    server.sock.close()


@pytest.fixture
def silent() -> Iterator[Server]:
    server = Server(answer=False)
    yield server
    server.sock.close()


def run_to_exit(runtime: ProbeContainers, pod: dict[str, Any]) -> int:
    done = threading.Event()
    codes: list[int] = []

    def on_exit(code: int) -> None:
        codes.append(code)
        done.set()

    runtime.start(pod, source_ip=SOURCE_IP, on_exit=on_exit)
    assert done.wait(30), "curl did not finish"
    return codes[0]


def probe_args(port: int, *, max_time: int = 5) -> list[str]:
    return [
        "--silent",
        "--show-error",
        "--max-time",
        str(max_time),
        "--output",
        "/dev/null",
        "--write-out",
        "IN-CLUSTER %{http_code} %{remote_ip}\\n",
        "--user-agent",
        "nlb-in-cluster/test",
        f"http://127.0.0.1:{port}/",
    ]


def test_curl_runs_from_the_pods_address_and_its_output_is_the_log(
    curl: str, answering: Server
) -> None:
    runtime = ProbeContainers(curl)
    assert run_to_exit(runtime, curl_pod(probe_args(answering.port))) == 0
    assert answering.peers == [SOURCE_IP]
    assert runtime.logs(namespace="web", name="probe-x") == "IN-CLUSTER 200 127.0.0.1\n"


def test_a_silent_peer_makes_curl_time_out_with_exit_28(curl: str, silent: Server) -> None:
    runtime = ProbeContainers(curl)
    assert run_to_exit(runtime, curl_pod(probe_args(silent.port, max_time=1))) == 28
    log = runtime.logs(namespace="web", name="probe-x")
    assert "IN-CLUSTER 000" in log and "curl: (28)" in log


@pytest.mark.parametrize(
    ("container", "reason"),
    [
        ({"command": ["sh", "-c", "id"], "args": []}, "command"),
        ({"args": ["--output", "/tmp/x", "http://127.0.0.1/"]}, "/dev/null"),
        ({"args": ["-K", "/etc/passwd", "http://127.0.0.1/"]}, "'-K'"),
        ({"args": ["--write-out", "%output{/tmp/x}", "http://127.0.0.1/"]}, "file"),
        ({"args": ["file:///etc/passwd"]}, "file:///etc/passwd"),
        ({"args": ["http://a/", "http://b/"]}, "exactly one"),
        ({"args": ["--max-time"]}, "needs a value"),
    ],
)
def test_anything_but_a_probe_is_refused(container: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        curl_arguments(container)


def test_a_refused_pod_fails_with_the_reason_in_its_log_and_runs_nothing(
    answering: Server,
) -> None:
    runtime = ProbeContainers("/bin/false-never-run")
    pod = curl_pod([f"http://127.0.0.1:{answering.port}/", "--config", "x"])
    assert run_to_exit(runtime, pod) == REFUSED_EXIT
    assert "--config" in runtime.logs(namespace="web", name="probe-x")
    assert answering.peers == []


def test_only_the_curl_image_is_a_curl_pod() -> None:
    assert image_repository("docker.io/curlimages/curl:8.11.1") == "curlimages/curl"
    assert image_repository("curlimages/curl@sha256:abc") == "curlimages/curl"
    assert is_curl_pod(curl_pod([]))
    assert not is_curl_pod(curl_pod([], image="nginx:1.27"))
    assert not is_curl_pod(curl_pod([], image="evil/curlimages/curl:1"))


def test_a_finished_pod_reports_its_exit_code_as_the_job_controller_reads_it() -> None:
    pod = curl_pod([])
    failed = terminated_status(pod, pod_ip=SOURCE_IP, host_ip=SOURCE_IP, exit_code=28)
    assert failed["phase"] == "Failed"
    (container,) = failed["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 28
    assert is_finished({"status": failed})
    assert terminated_status(pod, pod_ip=SOURCE_IP, host_ip=SOURCE_IP, exit_code=0)["phase"] == (
        "Succeeded"
    )
