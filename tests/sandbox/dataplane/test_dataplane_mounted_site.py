"""A real nginx pod serving the site mounted over its conf.d: the product's PROXY v2 site."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataplane_support import CLIENT_IP, Net, access_lines, pod_spec, raw_exchange

from kops_nlb.core.nginx_config import CONF_DIR, readiness_port, site_config
from kops_nlb.core.spec import EnvironmentSpec
from sandbox.dataplane.lb_plan import proxy_v2_header
from sandbox.dataplane.nginx_real import nginx_binary, pod_site
from sandbox.dataplane.pods import PodServers

REQUEST = b"GET /?mounted=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
BASTION = "10.0.1.10"


@pytest.fixture
def real_pods() -> Iterator[PodServers]:
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: run `make setup` (it installs Debian's nginx-light)")
    runtime = PodServers(real_nginx=True)
    yield runtime
    runtime.stop_all()


@pytest.fixture
def proxied() -> EnvironmentSpec:
    return EnvironmentSpec(proxy_protocol_v2=True, external_traffic_policy="Cluster")


def _log_lines(pods: PodServers, name: str, count: int) -> list[str]:
    deadline = time.monotonic() + 3  # nginx writes the line just after its lingering close
    while True:
        lines = access_lines(pods.logs(namespace="default", name=name))
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_the_mounted_proxy_protocol_site_logs_the_address_from_the_header(
    real_pods: PodServers, net: Net, proxied: EnvironmentSpec
) -> None:
    ip = net.pod(5)
    files = {f"{CONF_DIR}/default.conf": site_config(proxied).encode()}
    assert real_pods.start(pod_spec("pp", ip), files=files)
    header = proxy_v2_header(client=(BASTION, 40000), listener=("10.0.1.50", 80))
    assert raw_exchange(ip, 80, header + REQUEST).startswith(b"HTTP/1.1 200 ")
    # A request without the header breaks the PROXY listener: no answer at all.
    assert raw_exchange(ip, 80, REQUEST) == b""
    # The readiness listener beside it is plain HTTP, and logs nothing.
    assert raw_exchange(ip, readiness_port(proxied), REQUEST).startswith(b"HTTP/1.1 200 ")
    [line] = _log_lines(real_pods, "pp", 1)
    assert line.startswith(f"{BASTION} - - [") and '"GET /?mounted=1 HTTP/1.1" 200' in line
    assert "broken header" in real_pods.logs(namespace="default", name="pp")


def test_without_a_mounted_site_the_proxy_header_gets_a_400(
    real_pods: PodServers, net: Net
) -> None:
    ip = net.pod(6)
    assert real_pods.start(pod_spec("plain", ip))
    header = proxy_v2_header(client=(BASTION, 40000), listener=("10.0.1.50", 80))
    assert raw_exchange(ip, 80, header + REQUEST).startswith(b"HTTP/1.1 400 ")
    [line] = _log_lines(real_pods, "plain", 1)
    assert line.startswith(f"{CLIENT_IP} - - [") and '" 400 ' in line


def test_pod_site_binds_the_pod_address_and_its_own_log(tmp_path: Path) -> None:
    site = (
        "server {\n    listen 80 proxy_protocol;\n    listen [::]:80;\n"
        "    access_log /var/log/nginx/access.log proxied;\n"
        "    root /usr/share/nginx/html;\n}\n"
    )
    work = tmp_path
    assert pod_site(site, work=work, ip="127.1.2.3") == (
        f"server {{\n    listen 127.1.2.3:80 proxy_protocol;\n    # listen [::]:80;\n"
        f"    access_log {work}/access.log proxied;\n"
        f"    root {work}/html;\n}}\n"
    )
