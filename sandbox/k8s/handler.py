"""The API server's HTTP handler: kmock's ``KubernetesEmulator`` with its own request handling.

What kmock provides here: the request/response model and rendering (incl. streamed watch
responses), reaction routing with ``kmock.resource`` criteria (one reaction per served
resource, one for unknown resources), API discovery (``/api``, ``/apis``, ``/apis/<g>/<v>``)
from declared ``resources``, and the versioned object store (``ObjectsArray``, used by
:class:`~sandbox.k8s.store.ObjectStore`; ``handler.objects`` supports kmock's pattern
assertions).

Gaps in kmock 0.8 filled here, and why:

* URL parsing: kmock's parser crashes on ``/api/v1/namespaces`` and reads
  ``/api/v1/namespaces/<name>`` as a namespace scope without a resource, so the core
  ``namespaces`` resource is unreachable. :meth:`KubeApiHandler.__call__` parses paths with
  :func:`sandbox.k8s.resources.parse_path` and builds ``kmock.Request`` objects itself.
* State changes: ``KubernetesEmulator._handle`` mutates its store before any reaction runs,
  so nothing can validate, default or reject first (nor inject a fault "before touching
  state"). :meth:`KubeApiHandler._handle` skips that stage and dispatches straight to the
  reactions (:class:`~sandbox.k8s.responses.ResourceResponses`), which call
  :class:`~sandbox.k8s.models.KubeBackend`.
* Errors: kmock's Status bodies carry its own reasons (``Object Already Exists``) and a
  traceback; every error here is a :class:`~sandbox.k8s.exceptions.KubeApiError` with the
  real reason, code and message.
* Request records: kmock records every request (also per reaction) and finds the reaction
  for a request by scanning those records, so serving slows down linearly and memory grows
  without bound. Only in-flight requests stay recorded; the last 200 are kept in
  ``KubeApiHandler.recent_requests`` for debugging.
* kmock's reactions keep the metadata of the last ``kmock.Response`` a callable returned
  (status and headers stick to the reaction), so every reaction here returns a
  ``kmock.Response`` with an explicit status and ``Content-Type`` and no other headers
  (:mod:`sandbox.k8s.wire`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import random
from typing import Any, cast

import aiohttp.web
import attrs
import kmock

from sandbox.k8s import exceptions as errors
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.resources import RESOURCES, ApiPath, find, parse_path
from sandbox.k8s.responses import ResourceResponses
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.store import Obj
from sandbox.k8s.watch import WatchStreams
from sandbox.k8s.wire import is_true, text_response

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})


def _error_response(error: KubeApiError) -> aiohttp.web.Response:
    return aiohttp.web.json_response(error.to_status(), status=error.code, headers=error.headers)


@attrs.define(kw_only=True)
class KubeApiHandler(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with its store and request handling replaced by KubeBackend."""

    backend: KubeBackend
    runtime: PodRuntime
    fault_5xx_rate: float = 0.0
    seed: int = 0
    kubernetes_version: str = "1.35.0"
    tokens: set[str] = attrs.field(factory=set)
    call_counts: collections.Counter[tuple[str, str]] = attrs.field(factory=collections.Counter)
    faults_injected: int = 0
    recent_requests: collections.deque[kmock.Request] = attrs.field(
        factory=lambda: collections.deque(maxlen=200)
    )
    server_address: str = ""
    watches: WatchStreams = attrs.field(init=False)
    _fault_rng: random.Random = attrs.field(init=False)
    _responses: ResourceResponses = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._fault_rng = random.Random(self.seed)
        self._objects = self.backend.objects  # kmock's readers and assertions see the real store
        self.watches = WatchStreams(self.backend)
        self._responses = ResourceResponses(self.backend, self.runtime, self.watches)
        for rt in RESOURCES:
            selector = kmock.resource(rt.group, rt.version, rt.plural)
            self.resources[selector] = kmock.ResourceInfo(
                kind=rt.kind,
                singular=rt.singular,
                namespaced=rt.namespaced,
                verbs=set(rt.verbs),
                shortnames=set(rt.short_names),
                subresources=set(rt.subresources),
            )
            self[selector] << functools.partial(self._responses.serve, rt)
        self[self._is_unknown_resource] << self._serve_unknown
        for probe in ("/healthz", "/livez", "/readyz"):
            self[f"get {probe}"] << self._serve_probe

    # ------------------------------------------------------------------ entry points

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Serve one HTTP request (replaces kmock's parsing, see the module docstring)."""
        request: kmock.Request | None = None
        try:
            request = await self._parse(raw_request)
            self.recent_requests.append(request)
            api = parse_path(request.url.path)
            key = self._count_key(api, request.url.path)
            self.call_counts[(str(request.method.value), key)] += 1
            if not self._authorized(request.url.path, raw_request.headers.get("Authorization")):
                return _error_response(errors.unauthorized())
            # kmock matches a request to reactions by scanning the recorded requests, so only
            # the ones in flight stay recorded there (history is in recent_requests).
            self._requests.append(request)
            return await self._handle(request)
        except KubeApiError as error:
            return _error_response(error)
        except Exception as error:
            log.exception(
                "kube-apiserver twin failed on %s %s", raw_request.method, raw_request.path
            )
            return _error_response(errors.internal_error(error))
        finally:
            if request is not None:
                self._requests[:] = [seen for seen in self._requests if seen is not request]

    async def _parse(self, raw_request: aiohttp.web.BaseRequest) -> kmock.Request:
        body = await raw_request.read()
        text = body.decode("utf-8", errors="replace")
        data: Any = None
        if body:
            with contextlib.suppress(ValueError):
                data = json.loads(body)
        path = raw_request.path.rstrip("/") or "/"  # the client asks for /version/, /api/, /apis/
        api = parse_path(path)
        params = dict(raw_request.query)
        resource: kmock.resource | None = None
        if api.group is not None:
            resource = kmock.resource(group=api.group, version=api.version, plural=api.plural)
        return kmock.Request(
            method=raw_request.method,
            url=raw_request.url.with_path(path, keep_query=True),
            params=params,
            headers={  # recorded requests must not hold credentials
                key: "<redacted>" if key.lower() == "authorization" else value
                for key, value in raw_request.headers.items()
            },
            cookies=dict(raw_request.cookies),
            body=body,
            text=text,
            data=data,
            action=self._action(api, raw_request.method, params),
            resource=resource,
            namespace=api.namespace,
            name=api.name,
            subresource=api.subresource,
            raw_request=raw_request,
        )

    @staticmethod
    def _action(api: ApiPath, method: str, params: dict[str, str]) -> kmock.action | None:
        if not api.is_resource:
            return None
        if method == "GET" and is_true(params.get("watch")):
            return kmock.action.WATCH
        verbs = (
            {"GET": kmock.action.LIST, "POST": kmock.action.CREATE}
            if api.name is None
            else {
                "GET": kmock.action.FETCH,
                "PATCH": kmock.action.UPDATE,
                "PUT": kmock.action.UPDATE,
                "DELETE": kmock.action.DELETE,
            }
        )
        return verbs.get(method)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        api = parse_path(request.url.path)
        faulty = api.is_resource and self.fault_5xx_rate > 0
        if faulty and self._fault_rng.random() < self.fault_5xx_rate:
            self.faults_injected += 1
            return _error_response(errors.service_unavailable())
        try:
            # Skip KubernetesEmulator._handle (it writes to its store first): reactions only.
            return await super(kmock.KubernetesEmulator, self)._handle(request)
        except KubeApiError as error:
            return _error_response(error)
        except kmock.KubernetesError as error:
            reason = "NotFound" if error.status == 404 else "InternalError"
            message = (
                errors.resource_not_found().message if error.status == 404 else str(error.message)
            )
            return _error_response(KubeApiError(error.status, reason, message))
        except NotImplementedError:
            return _error_response(errors.resource_not_found())
        finally:
            for payload in self._payloads:
                payload._requests.clear()

    def _authorized(self, path: str, authorization: str | None) -> bool:
        if not self.tokens or path in PUBLIC_PATHS:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.tokens

    @staticmethod
    def _count_key(api: ApiPath, path: str) -> str:
        if not api.is_resource:
            return path
        prefix = f"{api.group}/{api.version}" if api.group else str(api.version)
        key = f"{prefix}/{api.plural}"
        return f"{key}/{api.subresource}" if api.subresource else key

    # ------------------------------------------------------------------ discovery overrides

    async def _serve_server_version(self, request: kmock.Request) -> Any:
        major, minor, *_ = self.kubernetes_version.split(".")
        return {
            "major": major,
            "minor": minor,
            "emulationMajor": major,
            "emulationMinor": minor,
            "gitVersion": f"v{self.kubernetes_version}",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _get_resources(self) -> list[kmock.resource]:
        with self.backend.lock:  # kmock iterates the store, which other threads change
            return super()._get_resources()

    async def _serve_version(self, request: kmock.Request) -> Any:
        payload = cast(Obj, await super()._serve_version(request))
        if request.resource is not None and request.resource.group == "":
            payload["groupVersion"] = request.resource.version  # kmock writes "/v1"
        return payload

    async def _serve_api(self, request: kmock.Request) -> Any:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}
            ],
        }

    def _serve_probe(self, request: kmock.Request) -> kmock.Response:
        return text_response(b"ok")

    @staticmethod
    def _is_unknown_resource(request: kmock.Request) -> bool:
        resource = request.resource
        if resource is None or resource.plural is None:
            return False
        return find(str(resource.group), str(resource.version), resource.plural) is None

    def _serve_unknown(self, request: kmock.Request) -> kmock.Response:
        raise errors.resource_not_found()
