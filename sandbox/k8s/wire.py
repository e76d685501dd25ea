"""Query parameters in, JSON out: what every endpoint of the API server reads and writes.

Every response is a ``kmock.Response`` with an explicit status and ``Content-Type`` and no other
headers: kmock's reactions keep the metadata of the last response a callable returned.
"""

from __future__ import annotations

from typing import Any

import kmock

from sandbox.k8s.exceptions import bad_request
from sandbox.k8s.resources import ResourceType
from sandbox.k8s.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain"


def json_response(payload: Any, status: int = 200) -> kmock.Response:
    """Return ``payload`` as JSON (kmock streams a tuple or an async iterator item by item)."""
    return kmock.Response(status=status, headers={"Content-Type": JSON_TYPE}, payload=payload)


def text_response(data: bytes) -> kmock.Response:
    """Return ``data`` as plain text."""
    return kmock.Response(status=200, headers={"Content-Type": TEXT_TYPE}, payload=data)


def int_param(params: dict[str, str], name: str) -> int | None:
    """Return the integer query parameter, None when absent or empty; 400 if not an integer."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name}: invalid integer {raw!r}") from None


def is_true(raw: str | None) -> bool:
    """Whether a boolean query parameter is set (``true`` or ``1``)."""
    return raw is not None and raw.lower() in ("true", "1")


def selectors(rt: ResourceType, params: dict[str, str]) -> tuple[LabelSelector, FieldSelector]:
    """Return the request's ``labelSelector`` and ``fieldSelector`` (400 if malformed)."""
    return (
        parse_label_selector(params.get("labelSelector")),
        parse_field_selector(params.get("fieldSelector"), rt.field_labels),
    )
