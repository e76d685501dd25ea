"""The REST verbs on each served resource: request in, backend call, object or Status out.

Create, read, list, replace (PUT), patch and delete (one or a collection), the ``status`` and
``scale`` subresources, and hand-offs to the watch and ``pods/log`` endpoints. Validation and
state changes are the backend's; this module only reads the request and shapes the answer.
"""

from __future__ import annotations

import json
from typing import Any

import kmock

from sandbox.k8s import exceptions as errors
from sandbox.k8s.logs import read_pod_log
from sandbox.k8s.models import KubeBackend
from sandbox.k8s.patches import PATCH_TYPES, apply_patch
from sandbox.k8s.resources import NAMESPACES, PODS, SERVICES, ResourceType, parse_path
from sandbox.k8s.runtime import PodRuntime
from sandbox.k8s.store import Obj
from sandbox.k8s.watch import WatchStreams
from sandbox.k8s.wire import int_param, is_true, json_response, selectors

# Deleting these returns the object; the others return a Status once the object is gone.
RETURNS_DELETED_OBJECT = frozenset({PODS, SERVICES, NAMESPACES})


class ResourceResponses:
    """Serves the requests for every served resource from one backend."""

    def __init__(self, backend: KubeBackend, runtime: PodRuntime, watches: WatchStreams) -> None:
        self.backend = backend
        self.runtime = runtime
        self.watches = watches

    async def serve(self, rt: ResourceType, request: kmock.Request) -> kmock.Response:
        """Answer one request for a resource of type ``rt``."""
        api = parse_path(request.url.path)
        method = str(request.method.value)
        params = dict(request.params)
        if api.namespace is not None and not rt.namespaced:
            raise errors.resource_not_found()
        if rt.namespaced and api.name is not None and api.namespace is None:
            raise errors.resource_not_found()
        dry_run = _dry_run(params)
        namespace = api.namespace
        if api.name is None:
            if method == "GET":
                if is_true(params.get("watch")):
                    return await self.watches.open(rt, namespace, None, params)
                return self._list(rt, namespace, params)
            if method == "POST":
                if rt.namespaced and namespace is None:
                    raise errors.method_not_allowed()
                created = self.backend.create(
                    rt, _body(request), namespace=namespace, dry_run=dry_run
                )
                return json_response(created, 201)
            if method == "DELETE":
                return self._delete_collection(rt, namespace, params, dry_run)
            raise errors.method_not_allowed()
        name = api.name
        if api.subresource is None:
            if method == "GET":
                if is_true(params.get("watch")):
                    return await self.watches.open(rt, namespace, name, params)
                return json_response(self.backend.read(rt, name, namespace))
            if method == "PUT":
                body = _body(request)
                return json_response(
                    self.backend.replace(rt, name, namespace, body, dry_run=dry_run)
                )
            if method == "PATCH":
                patch, patch_type = _patch_body(request)
                return json_response(
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
                return json_response(self.backend.read(rt, name, namespace))
            if method == "PUT":
                body = _body(request)
                return json_response(
                    self.backend.replace(
                        rt, name, namespace, body, subresource="status", dry_run=dry_run
                    )
                )
            if method == "PATCH":
                patch, patch_type = _patch_body(request)
                return json_response(
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
                return json_response(self.backend.read_scale(rt, name, namespace))
            if method == "PUT":
                body = _body(request)

                def replace_scale(scale: Obj) -> Obj:
                    return {
                        **body,
                        "metadata": {**scale["metadata"], **(body.get("metadata") or {})},
                    }

                return json_response(
                    self.backend.update_scale(rt, name, namespace, replace_scale, dry_run=dry_run)
                )
            if method == "PATCH":
                patch, patch_type = _patch_body(request)
                return json_response(
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
            return await read_pod_log(self.backend, self.runtime, name, str(namespace), params)
        raise errors.method_not_allowed()

    def _list(
        self, rt: ResourceType, namespace: str | None, params: dict[str, str]
    ) -> kmock.Response:
        labels, fields = selectors(rt, params)
        result = self.backend.list(
            rt,
            namespace=namespace,
            label_selector=labels,
            field_selector=fields,
            limit=int_param(params, "limit"),
            continue_token=params.get("continue") or None,
        )
        meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
            meta["remainingItemCount"] = result.remaining
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": result.items,
            }
        )

    def _delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        request: kmock.Request,
        params: dict[str, str],
        dry_run: bool,
    ) -> kmock.Response:
        grace, options_dry_run = _delete_options(request, params)
        result = self.backend.delete(
            rt, name, namespace, grace_period_seconds=grace, dry_run=dry_run or options_dry_run
        )
        if not result.removed:
            return json_response(result.obj, 202 if rt is not NAMESPACES else 200)
        if rt in RETURNS_DELETED_OBJECT:
            return json_response(result.obj)
        details: Obj = {"name": name, "kind": rt.plural, "uid": result.obj["metadata"].get("uid")}
        if rt.group:
            details["group"] = rt.group
        return json_response(
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
        labels, fields = selectors(rt, params)
        deleted = self.backend.delete_collection(
            rt, namespace=namespace, label_selector=labels, field_selector=fields, dry_run=dry_run
        )
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": self.backend.resource_version},
                "items": deleted,
            }
        )


def _dry_run(params: dict[str, str]) -> bool:
    value = params.get("dryRun")
    if value is None or value == "":
        return False
    if value != "All":
        raise errors.bad_request(f'unsupported dry run option "{value}"; only "All" is valid')
    return True


def _body(request: kmock.Request) -> Any:
    if not request.body:
        raise errors.bad_request("the request body is empty")
    try:
        return json.loads(request.body)
    except ValueError as error:
        raise errors.bad_request(f"couldn't decode the request body as JSON: {error}") from None


def _patch_body(request: kmock.Request) -> tuple[Any, str]:
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    patch_type = PATCH_TYPES.get(content_type)
    if patch_type is None:
        raise errors.unsupported_media_type(content_type or "none")
    return _body(request), patch_type


def _delete_options(request: kmock.Request, params: dict[str, str]) -> tuple[int | None, bool]:
    grace = int_param(params, "gracePeriodSeconds")
    dry_run = _dry_run(params)
    if request.body:
        options = _body(request)
        if isinstance(options, dict):
            if options.get("gracePeriodSeconds") is not None:
                grace = int(options["gracePeriodSeconds"])
            if options.get("dryRun"):
                dry_run = options["dryRun"] == ["All"] or dry_run
    return grace, dry_run
