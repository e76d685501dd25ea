"""Kubernetes API errors with the reasons, codes and messages a real kube-apiserver sends.

Every error renders as a ``v1 Status`` body; the official client turns it into an
``ApiException`` whose ``status`` is the code and whose ``body`` is that JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldCause:
    """One offending field of an Invalid (422) error."""

    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str


@dataclass(eq=False)
class KubeApiError(Exception):
    """An API failure that renders as a ``Status`` body with an HTTP code."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def to_status(self) -> dict[str, Any]:
        """Return the ``v1 Status`` body of this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def qualified(plural: str, group: str) -> str:
    """Return ``deployments.apps`` for a grouped resource, ``pods`` for a core one."""
    return f"{plural}.{group}" if group else plural


def _details(plural: str, group: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def not_found(plural: str, group: str, name: str) -> KubeApiError:
    """Return ``deployments.apps "nginx" not found``."""
    return KubeApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        _details(plural, group, name),
    )


def resource_not_found() -> KubeApiError:
    """Return the 404 for a URL that names no served resource."""
    return KubeApiError(404, "NotFound", "the server could not find the requested resource")


def already_exists(plural: str, group: str, name: str) -> KubeApiError:
    """Return ``deployments.apps "nginx" already exists``."""
    return KubeApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        _details(plural, group, name),
    )


def conflict(plural: str, group: str, name: str) -> KubeApiError:
    """Return the optimistic-concurrency 409 for a stale resourceVersion."""
    return KubeApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        _details(plural, group, name),
    )


def invalid(kind: str, group: str, name: str, causes: list[FieldCause]) -> KubeApiError:
    """Return ``Deployment.apps "x" is invalid: spec.selector: Required value`` (422)."""
    qualified_kind = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{cause.field}: {cause.message}" for cause in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [
            {"reason": cause.reason, "message": cause.message, "field": cause.field}
            for cause in causes
        ],
    }
    if group:
        details["group"] = group
    return KubeApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> KubeApiError:
    """Return a 400 BadRequest."""
    return KubeApiError(400, "BadRequest", message)


def forbidden(plural: str, group: str, name: str, why: str) -> KubeApiError:
    """Return a 403 Forbidden about one object."""
    return KubeApiError(
        403,
        "Forbidden",
        f'{qualified(plural, group)} "{name}" is forbidden: {why}',
        _details(plural, group, name),
    )


def method_not_allowed() -> KubeApiError:
    """Return the 405 for a verb the resource does not support."""
    return KubeApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(content_type: str) -> KubeApiError:
    """Return the 415 for a PATCH body type that is not understood."""
    return KubeApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type}) - accepted media "
        "types include: application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json",
    )


def unauthorized() -> KubeApiError:
    """Return the 401 for a request without a known bearer token."""
    return KubeApiError(401, "Unauthorized", "Unauthorized")


def gone(requested: int, oldest: int) -> KubeApiError:
    """Return the 410 a watch gets when its resourceVersion left the event window."""
    return KubeApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def service_unavailable() -> KubeApiError:
    """Return an injected 503, as an overloaded or restarting API server sends.

    No ``Retry-After``: with one, urllib3 (under the official client) silently retries GETs
    after sleeping, and the product would never see most faults.
    """
    return KubeApiError(
        503, "ServiceUnavailable", "the server is currently unable to handle the request"
    )


def internal_error(error: BaseException) -> KubeApiError:
    """Return the 500 for a bug in the twin itself."""
    return KubeApiError(500, "InternalError", f"Internal error occurred: {error!r}")
