"""The twin's Kubernetes API server: kmock's ``KubernetesEmulator`` on a real HTTP port.

:class:`KubeApiServer` serves the Kubernetes REST API over plain HTTP from a daemon thread with
its own event loop, so the official synchronous ``kubernetes`` client reaches it through an
ordinary kubeconfig. It also gives the twin's other controllers thread-safe in-process access
(``get``/``list``/``create``/``patch``/``delete``) and runs reconcilers (the deployment
controller, scheduler and kubelet of :mod:`sandbox.k8s.controllers` by default).

What kmock provides here: the request/response model and rendering (incl. streamed watch
responses), reaction routing with ``kmock.resource`` criteria (one reaction per served
resource, one for unknown resources), API discovery (``/api``, ``/apis``, ``/apis/<g>/<v>``)
from declared ``resources``, and the versioned object store (``ObjectsArray``, used by
:class:`~sandbox.k8s.store.ObjectStore`; ``server.handler.objects`` supports kmock's pattern
assertions).

Gaps in kmock 0.8 filled here, and why:

* URL parsing: kmock's parser crashes on ``/api/v1/namespaces`` and reads
  ``/api/v1/namespaces/<name>`` as a namespace scope without a resource, so the core
  ``namespaces`` resource is unreachable. :meth:`KubeApiHandler.__call__` parses paths with
  :func:`sandbox.k8s.resources.parse_path` and builds ``kmock.Request`` objects itself.
* State changes: ``KubernetesEmulator._handle`` mutates its store before any reaction runs,
  so nothing can validate, default or reject first (nor inject a fault "before touching
  state"). :meth:`KubeApiHandler._handle` skips that stage and dispatches straight to the
  reactions, which call :class:`~sandbox.k8s.models.KubeBackend`.
* Errors: kmock's Status bodies carry its own reasons (``Object Already Exists``) and a
  traceback; every error here is a :class:`~sandbox.k8s.exceptions.KubeApiError` with the
  real reason, code and message.
* Serving: ``kmock.Server`` patches aiohttp's DNS resolution process-wide (LIFO-stacked),
  which is unsafe with several servers in one process, so the handler is served by a plain
  ``aiohttp.web.Server``.
* Request records: kmock records every request (also per reaction) and finds the reaction
  for a request by scanning those records, so serving slows down linearly and memory grows
  without bound. Only in-flight requests stay recorded; the last 200 are kept in
  ``KubeApiHandler.recent_requests`` for debugging.
* kmock's reactions keep the metadata of the last ``kmock.Response`` a callable returned
  (status and headers stick to the reaction), so every reaction here returns a
  ``kmock.Response`` with an explicit status and ``Content-Type`` and no other headers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import functools
import json
import logging
import os
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast

import aiohttp.web
import attrs
import kmock
import yaml

from sandbox.k8s import exceptions as errors
from sandbox.k8s.controllers import ClusterControllers
from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.patches import PATCH_TYPES, apply_patch
from sandbox.k8s.resources import (
    NAMESPACES,
    PODS,
    RESOURCES,
    SERVICES,
    ApiPath,
    ResourceType,
    find,
    lookup,
    parse_path,
)
from sandbox.k8s.runtime import CounterPodIps, NullPodRuntime, PodRuntime
from sandbox.k8s.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from sandbox.k8s.store import Obj, Objs, WatchEvent

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain"
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
DEFAULT_WATCH_SECONDS = 1800.0
# Deleting these returns the object; the others return a Status once the object is gone.
RETURNS_DELETED_OBJECT = frozenset({PODS, SERVICES, NAMESPACES})


def _json(payload: Any, status: int = 200) -> kmock.Response:
    return kmock.Response(status=status, headers={"Content-Type": JSON_TYPE}, payload=payload)


def _error_response(error: KubeApiError) -> aiohttp.web.Response:
    return aiohttp.web.json_response(error.to_status(), status=error.code, headers=error.headers)


def _parse_time(text: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise errors.bad_request(f"sinceTime: invalid RFC3339 time {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid integer {raw!r}") from None


def _is_true(raw: str | None) -> bool:
    return raw is not None and raw.lower() in ("true", "1")


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
    _fault_rng: random.Random = attrs.field(init=False)
    _watch_queues: set[asyncio.Queue[WatchEvent | None]] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._fault_rng = random.Random(self.seed)
        self._objects = self.backend.objects  # kmock's readers and assertions see the real store
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
            self[selector] << functools.partial(self._serve, rt)
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
        if method == "GET" and _is_true(params.get("watch")):
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
        return kmock.Response(status=200, headers={"Content-Type": TEXT_TYPE}, payload=b"ok")

    @staticmethod
    def _is_unknown_resource(request: kmock.Request) -> bool:
        resource = request.resource
        if resource is None or resource.plural is None:
            return False
        return find(str(resource.group), str(resource.version), resource.plural) is None

    def _serve_unknown(self, request: kmock.Request) -> kmock.Response:
        raise errors.resource_not_found()

    # ------------------------------------------------------------------ resources

    async def _serve(self, rt: ResourceType, request: kmock.Request) -> kmock.Response:
        api = parse_path(request.url.path)
        method = str(request.method.value)
        params = dict(request.params)
        if api.namespace is not None and not rt.namespaced:
            raise errors.resource_not_found()
        if rt.namespaced and api.name is not None and api.namespace is None:
            raise errors.resource_not_found()
        dry_run = self._dry_run(params)
        namespace = api.namespace
        if api.name is None:
            if method == "GET":
                if _is_true(params.get("watch")):
                    return await self._watch(rt, namespace, None, params)
                return self._list(rt, namespace, params)
            if method == "POST":
                if rt.namespaced and namespace is None:
                    raise errors.method_not_allowed()
                created = self.backend.create(
                    rt, self._body(request), namespace=namespace, dry_run=dry_run
                )
                return _json(created, 201)
            if method == "DELETE":
                return self._delete_collection(rt, namespace, params, dry_run)
            raise errors.method_not_allowed()
        name = api.name
        if api.subresource is None:
            if method == "GET":
                if _is_true(params.get("watch")):
                    return await self._watch(rt, namespace, name, params)
                return _json(self.backend.read(rt, name, namespace))
            if method == "PUT":
                body = self._body(request)
                return _json(self.backend.replace(rt, name, namespace, body, dry_run=dry_run))
            if method == "PATCH":
                patch, patch_type = self._patch_body(request)
                return _json(
                    self.backend.patch(
                        rt, name, namespace, patch, patch_type=patch_type, dry_run=dry_run
                    )
                )
            if method == "DELETE":
                return self._delete(rt, name, namespace, request, params, dry_run)
            raise errors.method_not_allowed()
        if api.subresource not in rt.subresources:
            raise errors.resource_not_found()
        if api.subresource == "status":
            if method == "GET":
                return _json(self.backend.read(rt, name, namespace))
            if method == "PUT":
                body = self._body(request)
                return _json(
                    self.backend.replace(
                        rt, name, namespace, body, subresource="status", dry_run=dry_run
                    )
                )
            if method == "PATCH":
                patch, patch_type = self._patch_body(request)
                return _json(
                    self.backend.patch(
                        rt,
                        name,
                        namespace,
                        patch,
                        patch_type=patch_type,
                        subresource="status",
                        dry_run=dry_run,
                    )
                )
            raise errors.method_not_allowed()
        if api.subresource == "scale":
            if method == "GET":
                return _json(self.backend.read_scale(rt, name, namespace))
            if method == "PUT":
                body = self._body(request)

                def replace_scale(scale: Obj) -> Obj:
                    return {
                        **body,
                        "metadata": {**scale["metadata"], **(body.get("metadata") or {})},
                    }

                return _json(
                    self.backend.update_scale(rt, name, namespace, replace_scale, dry_run=dry_run)
                )
            if method == "PATCH":
                patch, patch_type = self._patch_body(request)
                return _json(
                    self.backend.update_scale(
                        rt,
                        name,
                        namespace,
                        lambda scale: apply_patch(scale, patch, patch_type),
                        dry_run=dry_run,
                    )
                )
            raise errors.method_not_allowed()
        if api.subresource == "log" and method == "GET":
            return await self._logs(name, str(namespace), params)
        raise errors.method_not_allowed()

    @staticmethod
    def _dry_run(params: dict[str, str]) -> bool:
        value = params.get("dryRun")
        if value is None or value == "":
            return False
        if value != "All":
            raise errors.bad_request(f'unsupported dry run option "{value}"; only "All" is valid')
        return True

    @staticmethod
    def _body(request: kmock.Request) -> Any:
        if not request.body:
            raise errors.bad_request("the request body is empty")
        try:
            return json.loads(request.body)
        except ValueError as error:
            raise errors.bad_request(f"couldn't decode the request body as JSON: {error}") from None

    def _patch_body(self, request: kmock.Request) -> tuple[Any, str]:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise errors.unsupported_media_type(content_type or "none")
        return self._body(request), patch_type

    def _selectors(
        self, rt: ResourceType, params: dict[str, str]
    ) -> tuple[LabelSelector, FieldSelector]:
        return (
            parse_label_selector(params.get("labelSelector")),
            parse_field_selector(params.get("fieldSelector"), rt.field_labels),
        )

    def _list(
        self, rt: ResourceType, namespace: str | None, params: dict[str, str]
    ) -> kmock.Response:
        labels, fields = self._selectors(rt, params)
        result = self.backend.list(
            rt,
            namespace=namespace,
            label_selector=labels,
            field_selector=fields,
            limit=_int_param(params, "limit"),
            continue_token=params.get("continue") or None,
        )
        meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
            meta["remainingItemCount"] = result.remaining
        return _json(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": result.items,
            }
        )

    def _delete_options(
        self, request: kmock.Request, params: dict[str, str]
    ) -> tuple[int | None, bool]:
        grace = _int_param(params, "gracePeriodSeconds")
        dry_run = self._dry_run(params)
        if request.body:
            options = self._body(request)
            if isinstance(options, dict):
                if options.get("gracePeriodSeconds") is not None:
                    grace = int(options["gracePeriodSeconds"])
                if options.get("dryRun"):
                    dry_run = options["dryRun"] == ["All"] or dry_run
        return grace, dry_run

    def _delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        request: kmock.Request,
        params: dict[str, str],
        dry_run: bool,
    ) -> kmock.Response:
        grace, options_dry_run = self._delete_options(request, params)
        result = self.backend.delete(
            rt, name, namespace, grace_period_seconds=grace, dry_run=dry_run or options_dry_run
        )
        if not result.removed:
            return _json(result.obj, 202 if rt is not NAMESPACES else 200)
        if rt in RETURNS_DELETED_OBJECT:
            return _json(result.obj)
        details: Obj = {"name": name, "kind": rt.plural, "uid": result.obj["metadata"].get("uid")}
        if rt.group:
            details["group"] = rt.group
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
        )

    def _delete_collection(
        self, rt: ResourceType, namespace: str | None, params: dict[str, str], dry_run: bool
    ) -> kmock.Response:
        if rt.namespaced and namespace is None:
            raise errors.method_not_allowed()
        labels, fields = self._selectors(rt, params)
        deleted = self.backend.delete_collection(
            rt, namespace=namespace, label_selector=labels, field_selector=fields, dry_run=dry_run
        )
        return _json(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": self.backend.resource_version},
                "items": deleted,
            }
        )

    # ------------------------------------------------------------------ pods/log

    async def _logs(self, name: str, namespace: str, params: dict[str, str]) -> kmock.Response:
        pod = self.backend.read(PODS, name, namespace)
        containers = [c.get("name") for c in pod["spec"].get("containers") or []]
        container = params.get("container")
        if not container:
            if len(containers) != 1:
                choices = " ".join(str(c) for c in containers)
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                )
            container = str(containers[0])
        elif container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        if not pod["spec"].get("nodeName"):
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        status = pod.get("status") or {}
        if status.get("phase") == "Pending":
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        since_seconds = _int_param(params, "sinceSeconds")
        since_time = params.get("sinceTime")
        if since_seconds is not None and since_time:
            raise errors.bad_request(
                "at most one of `sinceTime` or `sinceSeconds` may be specified"
            )
        since: datetime.datetime | None = None
        if since_seconds is not None:
            if since_seconds < 1:
                raise errors.bad_request("sinceSeconds: must be greater than 0")
            since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=since_seconds)
        elif since_time:
            since = _parse_time(since_time)
        tail_lines = _int_param(params, "tailLines")
        if tail_lines is not None and tail_lines < 0:
            raise errors.bad_request("tailLines: must be greater than or equal to 0")
        text = await asyncio.to_thread(
            self.runtime.logs,
            namespace=namespace,
            name=name,
            since=since,
            tail_lines=tail_lines,
            timestamps=_is_true(params.get("timestamps")),
        )
        data = text.encode("utf-8")
        limit_bytes = _int_param(params, "limitBytes")
        if limit_bytes is not None and limit_bytes > 0:
            data = data[:limit_bytes]
        return kmock.Response(status=200, headers={"Content-Type": TEXT_TYPE}, payload=data)

    # ------------------------------------------------------------------ watch

    async def _watch(
        self, rt: ResourceType, namespace: str | None, name: str | None, params: dict[str, str]
    ) -> kmock.Response:
        labels, fields = self._selectors(rt, params)
        if name is not None:
            fields = FieldSelector(
                (*fields.requirements, FieldRequirement("metadata.name", True, name))
            )
        raw_since = params.get("resourceVersion")
        since: int | None = None
        if raw_since not in (None, "", "0"):
            try:
                since = int(str(raw_since))
            except ValueError:
                raise errors.bad_request(f"invalid resourceVersion {raw_since!r}") from None
        timeout = float(_int_param(params, "timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

        def listener(event: WatchEvent) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(queue.put_nowait, event)

        try:
            initial, horizon = self.backend.open_watch(rt, since, listener)
        except KubeApiError as error:
            expired = error.to_status()
            return _json((b"", {"type": "ERROR", "object": expired}))
        self._watch_queues.add(queue)

        def render(event: WatchEvent) -> Obj | None:
            def matches(obj: Obj | None) -> bool:
                if obj is None:
                    return False
                meta = obj["metadata"]
                return (
                    (namespace is None or meta.get("namespace") == namespace)
                    and labels.matches(meta.get("labels"))
                    and fields.matches(obj)
                )

            if event.resource is not rt:
                return None
            now, before = matches(event.obj), matches(event.old)
            kind = event.type
            if kind == "MODIFIED":
                kind = (
                    "MODIFIED"
                    if now and before
                    else "ADDED"
                    if now
                    else "DELETED"
                    if before
                    else ""
                )
                if kind == "DELETED":
                    return {"type": kind, "object": event.obj}
            if not kind or not now:
                return None
            return {"type": kind, "object": event.obj}

        async def stream() -> AsyncIterator[Any]:
            try:
                yield b""  # send the headers now
                for event in initial:
                    rendered = render(event)
                    if rendered is not None:
                        yield rendered
                deadline = loop.time() + timeout
                while True:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return
                    try:
                        change = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        return
                    if change is None:
                        return
                    if change.resource_version <= horizon:
                        continue  # already part of the initial events
                    rendered = render(change)
                    if rendered is not None:
                        yield rendered
            finally:
                self.backend.remove_listener(listener)
                self._watch_queues.discard(queue)

        return _json(stream())

    def close_watches(self) -> None:
        """End every open watch stream (call on the server's loop)."""
        for queue in list(self._watch_queues):
            queue.put_nowait(None)


@dataclass
class _Reconciler:
    fn: Callable[[KubeApiServer], None]
    interval: float
    lock: threading.RLock = field(default_factory=threading.RLock)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class KubeApiServer:
    """The twin's kube-apiserver: HTTP for the product, in-process calls for the twin.

    The in-process API takes resources as ``"v1/nodes"``, ``"v1/pods"``, ``"v1/services"``,
    ``"apps/v1/deployments"`` (and ``"v1/namespaces"``, ``"v1/configmaps"``, ``"v1/secrets"``),
    returns deep copies, raises :class:`KubeApiError` like the HTTP API answers (``.code``
    404/409/422...), and patches with JSON merge-patch semantics (lists are replaced whole).
    A namespaced resource addressed with ``namespace=None`` means ``default`` for
    get/create/patch/delete and all namespaces for list.
    """

    def __init__(
        self,
        *,
        pod_runtime: PodRuntime | None = None,
        pod_ip_allocator: Callable[[dict[str, Any]], str] | None = None,
        fault_5xx_rate: float = 0.0,
        seed: int = 0,
        kubernetes_version: str = "1.35.0",
    ) -> None:
        self.backend = KubeBackend(seed=seed)
        self.pod_runtime: PodRuntime = pod_runtime if pod_runtime is not None else NullPodRuntime()
        self._default_ips = CounterPodIps()
        self.pod_ip_allocator = (
            pod_ip_allocator if pod_ip_allocator is not None else self._default_ips
        )
        self.controllers = ClusterControllers(
            self.backend, runtime=self.pod_runtime, allocate_ip=self.pod_ip_allocator, seed=seed
        )
        self.handler = KubeApiHandler(
            backend=self.backend,
            runtime=self.pod_runtime,
            fault_5xx_rate=fault_5xx_rate,
            seed=seed,
            kubernetes_version=kubernetes_version,
        )
        self.call_counts: collections.Counter[tuple[str, str]] = self.handler.call_counts
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self._reconcilers: list[_Reconciler] = []
        self._changed = threading.Condition()
        self._generation = 0
        self.backend.add_listener(self._on_change)
        self.add_reconciler(self.controllers.reconcile, interval=0.2)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether the HTTP server is serving."""
        return self._thread is not None

    @property
    def faults_injected(self) -> int:
        """How many requests got an injected 503 so far."""
        return self.handler.faults_injected

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HTTP on ``host:port`` (0 picks a free port) and start the reconcilers; return the URL."""
        if self._thread is not None:
            raise RuntimeError("the API server is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(host, port))
            except Exception as error:
                log.exception("kube-apiserver twin failed to listen on %s:%s", host, port)
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        thread = threading.Thread(target=run, name="kube-apiserver", daemon=True)
        thread.start()
        ready.wait(30)
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        for reconciler in self._reconcilers:
            self._start_reconciler(reconciler)
        return self.url

    async def _serve(self, host: str, port: int) -> None:
        # handler_cancellation: a client hanging up ends its watch stream at once.
        server = aiohttp.web.Server(self.handler, handler_cancellation=True, access_log=None)
        runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound_port = runner.addresses[0][1]
        self._runner = runner
        self.handler.server_address = f"{host}:{bound_port}"
        self.url = f"http://{host}:{bound_port}"

    async def _shutdown(self) -> None:
        self.handler.close_watches()
        await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        """Stop the reconcilers (asking the runtime to stop every pod it runs) and the server."""
        for reconciler in self._reconcilers:
            reconciler.stop.set()
        with self._changed:
            self._changed.notify_all()
        for reconciler in self._reconcilers:
            if reconciler.thread is not None:
                reconciler.thread.join(timeout=10)
                reconciler.thread = None
        self.controllers.kubelet.stop_all()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = self._thread = None
        self.url = ""

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Drop all objects (default namespaces are recreated), stop all pods, clear call_counts."""
        with contextlib.ExitStack() as stack:
            for reconciler in list(self._reconcilers):
                stack.enter_context(reconciler.lock)  # wait for passes in flight
            self.backend.reset()
            self.controllers.reset()
            self._default_ips.reset()
            self.call_counts.clear()

    def write_kubeconfig(self, path: Path, *, cluster_name: str, user: str, token: str) -> None:
        """Write a kubeconfig (mode 0600) pointing at this server with bearer-token auth.

        From the first call on, API requests must carry one of the tokens written.
        """
        if not self.url:
            raise RuntimeError("start() the API server before writing a kubeconfig for it")
        self.handler.tokens.add(token)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}
            ],
            "current-context": cluster_name,
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        path.chmod(0o600)

    # ------------------------------------------------------------------ reconcilers

    def add_reconciler(self, fn: Callable[[KubeApiServer], None], interval: float = 0.2) -> None:
        """Call ``fn(self)`` every ``interval`` seconds (sooner after a change) while running.

        Runs in its own daemon thread; exceptions are logged and the loop goes on.
        """
        reconciler = _Reconciler(fn, interval)
        self._reconcilers.append(reconciler)
        if self.running:
            self._start_reconciler(reconciler)

    def _start_reconciler(self, reconciler: _Reconciler) -> None:
        reconciler.stop.clear()
        name = getattr(reconciler.fn, "__qualname__", repr(reconciler.fn))
        reconciler.thread = threading.Thread(
            target=self._reconcile_forever,
            args=(reconciler,),
            name=f"reconciler:{name}",
            daemon=True,
        )
        reconciler.thread.start()

    def _on_change(self, _event: WatchEvent) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _reconcile_forever(self, reconciler: _Reconciler) -> None:
        while not reconciler.stop.is_set():
            with self._changed:
                seen = self._generation
            try:
                with reconciler.lock:
                    if reconciler.stop.is_set():
                        return
                    reconciler.fn(self)
            except Exception:
                log.exception("reconciler %r failed; retrying", reconciler.fn)
            self._wait_for_change(reconciler, seen)
            reconciler.stop.wait(0.002)  # let a burst of changes settle

    def _wait_for_change(self, reconciler: _Reconciler, seen: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: reconciler.stop.is_set() or self._generation != seen,
                timeout=reconciler.interval,
            )

    # ------------------------------------------------------------------ in-process API

    @staticmethod
    def _namespace(rt: ResourceType, namespace: str | None) -> str | None:
        if not rt.namespaced:
            return None
        return namespace or "default"

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Return the object, or None when it does not exist."""
        rt = lookup(resource)
        return self.backend.find(rt, name, self._namespace(rt, namespace))

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> Objs:
        """Return the objects (all namespaces when ``namespace`` is None) matching the selector."""
        rt = lookup(resource)
        selector = parse_label_selector(label_selector)
        return self.backend.list(
            rt, namespace=namespace if rt.namespaced else None, label_selector=selector
        ).items

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object (namespace from its metadata) and return it as stored."""
        rt = lookup(resource)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return self.backend.create(rt, obj, namespace=self._namespace(rt, namespace))

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (to ``status`` only with ``subresource="status"``)."""
        rt = lookup(resource)
        return self.backend.patch(
            rt,
            name,
            self._namespace(rt, namespace),
            patch,
            patch_type="merge",
            subresource=subresource,
        )

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Delete the object; with finalizers (or a running Pod) it is only marked for deletion."""
        rt = lookup(resource)
        self.backend.delete(rt, name, self._namespace(rt, namespace))

    def running_pods(self) -> Objs:
        """Return the pods the runtime has been asked to start and not yet to stop."""
        return self.controllers.kubelet.running()


__all__ = ["KubeApiHandler", "KubeApiServer"]
