"""Optional: a real nginx process per pod, for when fidelity matters more than start-up time.

``PodServers(real_nginx=True)`` uses this when an ``nginx`` binary is on PATH (Debian's
``nginx``/``nginx-light`` package): each pod gets its own master process with a generated
config that listens on the pod's address only, serves the same pages as the built-in server,
and writes the ``main`` format to files that are copied into the pod log (access and error log,
as the image's stdout/stderr symlinks would). Lines are picked up every ``poll_s`` seconds and
whenever the log is read, and stamped when picked up, so ``since`` is precise to about
``poll_s``. Without nginx the built-in server is used.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from sandbox.dataplane import nginx_site
from sandbox.dataplane.nginx_log import MAIN_FORMAT
from sandbox.dataplane.pod_log import PodLog

_CONFIG = """\
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log notice;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '{log_format}';
    access_log {work}/access.log main;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
{sites}
}}
"""

_DEFAULT_SITE = """\
    server {{
        listen {ip}:{port};
        server_name localhost;
        location / {{
            root {work}/html;
            index index.html index.htm;
        }}
        error_page 500 502 503 504 /50x.html;
        location = /50x.html {{
            root {work}/html;
        }}
    }}"""

CONF_D = "/etc/nginx/conf.d/"
_LISTEN_V6 = re.compile(r"^(\s*)(listen\s+\[[^]]*\][^;]*;)", re.MULTILINE)
_LISTEN_PORT = re.compile(r"^(\s*listen\s+)(?:(?:\*|0\.0\.0\.0):)?(\d+)(?=[\s;])", re.MULTILINE)


def pod_site(config: str, *, work: Path, ip: str) -> str:
    """Return a mounted site's configuration with the container's paths and ports made the
    pod's: IPv6 listeners dropped (the pods have IPv4 addresses only)."""
    config = _LISTEN_V6.sub(r"\1# \2", config)
    config = _LISTEN_PORT.sub(lambda m: f"{m.group(1)}{ip}:{m.group(2)}", config)
    config = config.replace("/var/log/nginx/", f"{work}/")
    return config.replace("/usr/share/nginx/html", f"{work}/html")


def nginx_binary() -> str | None:
    """Return the path of an nginx binary on PATH (or in /usr/sbin), else None."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class RealNginx:
    """One nginx master process serving one pod address; its logs go to a ``PodLog``."""

    def __init__(
        self,
        *,
        binary: str,
        workdir: Path,
        ip: str,
        port: int,
        log: PodLog,
        files: Mapping[str, bytes] | None = None,
    ) -> None:
        self._binary = binary
        self._files = dict(files or {})
        self._work = workdir
        self._ip, self._port = ip, port
        self._log = log
        self._offsets = {"error.log": 0, "access.log": 0}
        self._process: subprocess.Popen[bytes] | None = None
        self._sync_lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> bool:
        """Write the site and config, start nginx and return True once it accepts connections."""
        (self._work / "html").mkdir(parents=True, exist_ok=True)
        (self._work / "tmp").mkdir(exist_ok=True)
        for path, page in nginx_site.FILES.items():
            (self._work / "html" / path.lstrip("/")).write_bytes(page.body)
        config = _CONFIG.format(work=self._work, log_format=MAIN_FORMAT, sites=self._sites())
        (self._work / "nginx.conf").write_text(config)
        with (self._work / "stderr").open("wb") as stderr:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    "-c",
                    str(self._work / "nginx.conf"),
                    "-e",
                    str(self._work / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.sync()
                return False
            # nginx writes its pid file once its listening socket is bound (by this process: a
            # bare connect could reach whoever else holds the address).
            if (self._work / "nginx.pid").exists() and _accepts(self._ip, self._port):
                self.sync()
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def _sites(self) -> str:
        """Write the mounted files under the pod's root; return the http block's sites."""
        root = self._work / "root"
        for path, content in self._files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.startswith(CONF_D) and path.endswith(".conf"):
                content = pod_site(content.decode(), work=self._work, ip=self._ip).encode()
            target.write_bytes(content)
        if any(p.startswith(CONF_D) and p.endswith(".conf") for p in self._files):
            return f"    include {root}{CONF_D}*.conf;"
        return _DEFAULT_SITE.format(work=self._work, ip=self._ip, port=self._port)

    def sync(self) -> None:
        """Copy the lines nginx has written since the last call into the pod log."""
        with self._sync_lock:
            self._sync()

    def _sync(self) -> None:
        for name in ("error.log", "access.log"):
            path = self._work / name
            try:
                with path.open("rb") as handle:
                    handle.seek(self._offsets[name])
                    data = handle.read()
            except FileNotFoundError:
                continue
            complete = data.rfind(b"\n") + 1
            self._offsets[name] += complete
            for line in data[:complete].splitlines():
                self._log.append(line.decode("utf-8", errors="replace"))

    def stop(self) -> None:
        """Stop nginx (SIGQUIT, then SIGKILL after 5 s) and pick up its last lines."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGQUIT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a worker left behind
        self.sync()


def _accepts(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), 0.2).close()
    except OSError:
        return False
    return True
