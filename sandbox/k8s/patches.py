"""PATCH bodies the API server accepts: JSON merge patch, strategic merge (as merge), JSON patch.

``PATCH_TYPES`` names the patch type each ``Content-Type`` stands for. :func:`apply_patch`
leaves the patching to kmock's :class:`kmock.Object` and turns its failures into the API's 422.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import kmock

from sandbox.k8s.exceptions import KubeApiError, bad_request
from sandbox.k8s.store import Obj

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}


def _strip_directives(patch: Any) -> Any:
    """Drop strategic-merge ``$`` directives, which merge semantics cannot honour."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(item) for item in patch]
    return patch


def apply_patch(doc: Obj, patch: Any, patch_type: str) -> Obj:
    """Return ``doc`` patched: merge/strategic with JSON merge-patch rules, json as RFC 6902.

    Strategic merge is approximated by merge patch: lists are replaced as a whole.
    """
    if patch_type in ("merge", "strategic"):
        if not isinstance(patch, dict):
            raise bad_request(f"a {patch_type} patch must be a JSON object")
        patch = _strip_directives(patch) if patch_type == "strategic" else patch
    elif patch_type == "json":
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a list of operations")
    else:
        raise bad_request(f"unknown patch type {patch_type!r}")
    scratch = kmock.Object(copy.deepcopy(doc))
    try:
        scratch.patch(cast(Any, patch))
    except Exception as error:
        raise KubeApiError(
            422,
            "Invalid",
            f"the server rejected our request due to an error in our request: {error}",
        ) from error
    return copy.deepcopy(scratch.raw)
