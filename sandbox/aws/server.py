"""The twin's AWS endpoint: moto's server in a background thread, behind a thin WSGI layer.

Product code reaches it only through ``AWS_ENDPOINT_URL`` with plain boto3, as it would reach
AWS. The layer in front of moto counts every call per (service, operation), for benchmarks,
and injects the faults of ``AwsFaults``; moto's own ``/moto-api`` passes untouched.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from moto.ec2.models import ec2_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.aws import gaps, speedups, wire
from sandbox.aws.fault_injection import FaultInjector
from sandbox.aws.faults import AwsFaults, render_error

log = logging.getLogger(__name__)

DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"  # moto accepts any signature
# The twin's own machinery (the simulated instances reading their user data and the state
# store, as nodeup does, retrying until it works) signs with this key; faults are for clients.
INFRASTRUCTURE_ACCESS_KEY_ID = "twin-infrastructure"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler, logging each request at debug level instead of to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)


_MACHINE_SERVICES = frozenset({"ec2", "autoscaling"})


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves each host it has seen.

    moto works the backend out anew for every request, under its dispatch lock: it lists its
    own package directory and tries every service's URL pattern, about a millisecond a call.
    The answer for a host never changes, so it is worked out once.
    """

    def __init__(self, create_app: Callable[[Any], Any]) -> None:
        super().__init__(create_app)
        self._backend_by_host: dict[str, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None:
            return None
        if host not in self._backend_by_host:
            self._backend_by_host[host] = super().get_backend_for_host(host)
        return self._backend_by_host[host]


class AwsServer:
    """moto in-process over HTTP, with the project's gaps filled and faults injectable.

    moto's state is process-wide: two servers in one process share it (and the SSM fault
    knobs); ``reset`` clears it for both.
    """

    def __init__(
        self,
        *,
        region: str = "ap-northeast-1",
        faults: AwsFaults | None = None,
        nlb_provisioning_seconds: float = 0.0,
    ) -> None:
        self.region = region
        self.faults = faults or AwsFaults()
        self.nlb_provisioning_seconds = nlb_provisioning_seconds
        """How long a new network load balancer stays ``provisioning`` (0: active at once)."""
        self.call_counts: Counter[tuple[str, str]] = Counter()
        """Every API call (``/moto-api`` excluded) by (service, operation), throttled ones too."""
        self.throttled_counts: Counter[tuple[str, str]] = Counter()
        """The calls answered with an injected error, by (service, operation)."""
        self.injected_counts: Counter[str] = Counter()
        """The injected errors, by AWS error code."""
        self._machine_writes = 0
        self._injector = FaultInjector(self.faults, region=self.region)
        self._counts_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The endpoint URL, for ``AWS_ENDPOINT_URL`` / ``endpoint_url``."""
        if self._url is None:
            raise RuntimeError("AwsServer is not started")
        return self._url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a daemon thread (port 0: any free port) and return the URL."""
        if self._server is not None:
            return self.url
        gaps.apply()
        speedups.apply()
        self._configure_gaps()
        app = _Dispatcher(create_backend_app)
        server = make_server(
            host,
            port,
            self._middleware(app),
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"aws-twin-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        self._url = f"http://{host}:{server.server_port}"
        return self._url

    def stop(self) -> None:
        """Stop serving (moto's state stays until ``reset``)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        self._url = None

    def reset(self) -> None:
        """Clear all AWS state and the call counters, as ``POST /moto-api/reset`` does.

        The gap patches and the hooks stay installed.
        """
        # moto's reset re-creates every regional backend in place and then drops it; for EC2
        # that re-loads the default AMIs (~0.3 s) for nothing. Dropping EC2's first is the same
        # end state: nothing references a regional backend once its dict entry is gone.
        for account_backends in list(ec2_backends.values()):
            account_backends.clear()
        moto_api_backend.reset()
        with self._counts_lock:
            self.call_counts.clear()
            self.throttled_counts.clear()
            self.injected_counts.clear()

    def set_faults(self, faults: AwsFaults) -> None:
        """Replace the fault settings (the throttling sequence restarts from the new seed)."""
        self.faults = faults
        self._injector = FaultInjector(faults, region=self.region)
        if self._server is not None:
            self._configure_gaps()

    def set_nlb_provisioning_seconds(self, seconds: float) -> None:
        """Keep each network load balancer created from now on ``provisioning`` this long."""
        self.nlb_provisioning_seconds = seconds
        gaps.set_nlb_provisioning_seconds(seconds)

    def write_counts(self) -> Counter[tuple[str, str]]:
        """Return the call counts of mutating operations only."""
        with self._counts_lock:
            return Counter(
                {key: n for key, n in self.call_counts.items() if wire.is_write_operation(key[1])}
            )

    def machine_writes(self) -> int:
        """How many EC2 and Auto Scaling writes it has served: what can start or stop instances
        (the twin's hosts look at the instances again when this moves)."""
        with self._counts_lock:
            return self._machine_writes

    def activate_load_balancer_after(self, arn: str, seconds: float) -> None:
        """Keep a load balancer ``provisioning`` for ``seconds`` (as AWS takes a while)."""
        gaps.activate_load_balancer_after(arn, seconds)

    def instance_has_managed_policy(self, instance_id: str, policy: str) -> bool:
        """Tell whether the instance's profile role has this managed policy (name or ARN)."""
        return gaps.instance_has_managed_policy(instance_id, policy, region=self.region)

    def environment(self) -> dict[str, str]:
        """Return the environment a product process needs to use this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _configure_gaps(self) -> None:
        gaps.set_nlb_provisioning_seconds(self.nlb_provisioning_seconds)
        gaps.configure(
            invocation_visible_after=self.faults.invocation_visible_after,
            command_pickup_delay=self.faults.command_pickup_delay,
            connection_lost_rate=self.faults.ssm_connection_lost_rate,
            connection_lost_seconds=self.faults.ssm_connection_lost_seconds,
            seed=self.faults.seed,
        )

    def _middleware(self, app: WsgiApp) -> WsgiApp:
        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
                return app(environ, start_response)
            body: bytes | None = None
            if wire.needs_body(environ):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(body)
            call = wire.identify(environ, body)
            key = (call.service, call.operation)
            infrastructure = f"Credential={INFRASTRUCTURE_ACCESS_KEY_ID}/" in str(
                environ.get("HTTP_AUTHORIZATION", "")
            )
            error = (
                None
                if infrastructure
                else self._injector.error_for(call, body, str(environ.get("QUERY_STRING", "")))
            )
            with self._counts_lock:
                self.call_counts[key] += 1
                if error is not None:
                    self.throttled_counts[key] += 1
                    self.injected_counts[error.code] += 1
            if error is not None:
                status, headers, payload = render_error(call, error)
                start_response(status, headers)
                return [payload]
            response = self._injector.observe(call, app(environ, start_response))
            if call.service in _MACHINE_SERVICES and wire.is_write_operation(call.operation):
                with self._counts_lock:  # counted once served, so a look after it sees it
                    self._machine_writes += 1
            return response

        return serve
