"""The Kubernetes Job a worker of the `kops-nlb-k8s` pool would submit, and its schema check.

There is no kube-apiserver here to dry-run against yet, so the Job is checked against the
Kubernetes API's schema as the official `kubernetes` Python client carries it (its models:
`openapi_types`, `attribute_map` and their required fields), strictly: an unknown field, a wrong
type or a missing required field is an error. Quantities are parsed as Kubernetes parses them.

The Job is rendered the way a worker renders it: Prefect's own template resolution
(`BaseJobConfiguration.from_template_and_values`, then `prepare_for_flow_run`), then what the
Kubernetes worker adds to the manifest (the environment as a list, the command as the container's
args, `generateName` from the run's name). prefect-kubernetes itself is not a dependency.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.utils.quantity import parse_quantity
from prefect.client.schemas.objects import FlowRun
from prefect.workers.base import BaseJobConfiguration

from deployments.kubernetes_pool import POOL, POOL_TYPE, RBAC, TEMPLATE

__all__ = ["POOL", "POOL_TYPE", "RBAC", "TEMPLATE", "manifest_errors", "render_job"]

# apiVersion/kind -> the client's model of it.
MODELS = {
    ("batch/v1", "Job"): "V1Job",
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}
_PRIMITIVES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "object": object,
    "datetime": str,
    "date": str,
    "bytes": str,
}
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class KubernetesJobConfiguration(BaseJobConfiguration):
    """The job configuration of the template: Prefect's base fields plus the Job manifest."""

    namespace: str
    job_manifest: dict[str, Any]
    job_watch_timeout_seconds: int | None = None
    pod_watch_timeout_seconds: int | None = None
    stream_output: bool = True


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Return the pool's base job template."""
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def render_job(
    job_variables: dict[str, Any], *, flow_run: FlowRun, template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the Job manifest the worker would submit for `flow_run` of a deployment with
    `job_variables`."""
    # Prefect's decorator hides the return type of this classmethod from type checkers.
    config: KubernetesJobConfiguration = asyncio.run(
        KubernetesJobConfiguration.from_template_and_values(
            template or load_template(), job_variables
        )
    )
    config.prepare_for_flow_run(flow_run)
    manifest = copy.deepcopy(config.job_manifest)
    metadata = manifest.setdefault("metadata", {})
    metadata.setdefault("generateName", f"{config.name}-")
    metadata.setdefault("namespace", config.namespace)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    listed = container.get("env") if isinstance(container.get("env"), list) else []
    container["env"] = [{"name": k, "value": str(v)} for k, v in config.env.items()] + listed
    if isinstance(container.get("args"), str) or not container.get("args"):
        container["args"] = shlex.split(config.command or "")
    return manifest


def schema_errors(value: Any, type_name: str, path: str = "$") -> list[str]:
    """Return where `value` departs from the client's model `type_name` (empty when it fits)."""
    # The client writes containers as List[X] (dict(str, X)/list[X] in older releases).
    if type_name.startswith(("List[", "list[")):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        inner = type_name[5:-1]
        return [e for i, v in enumerate(value) for e in schema_errors(v, inner, f"{path}[{i}]")]
    if type_name.startswith(("Dict[", "dict(")):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        inner = type_name.split(",", 1)[1][:-1].strip()
        return [e for k, v in value.items() for e in schema_errors(v, inner, f"{path}.{k}")]
    if type_name in _PRIMITIVES:
        fits = isinstance(value, _PRIMITIVES[type_name]) and not (
            type_name in ("int", "float") and isinstance(value, bool)
        )
        return [] if fits else [f"{path}: expected {type_name}, got {value!r}"]
    model = getattr(k8s, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} object, got {value!r}"]
    attributes = {key: attr for attr, key in model.attribute_map.items()}
    errors = [
        f"{path}.{key}: no such field in {type_name}" for key in value if key not in attributes
    ]
    for key, item in value.items():
        if key in attributes:
            errors += schema_errors(item, model.openapi_types[attributes[key]], f"{path}.{key}")
    try:  # the client's models refuse a missing required field
        model(**{attributes[k]: v for k, v in value.items() if k in attributes})
    except ValueError as exc:  # pydantic's ValidationError in this client, a plain one before
        details = getattr(exc, "errors", None)
        if callable(details):
            missing = [".".join(map(str, e["loc"])) for e in details() if e["type"] == "missing"]
            errors += [f"{path}.{field}: required field missing" for field in missing]
        else:
            errors.append(f"{path}: {exc}")
    return errors


def manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """Return every schema error of one manifest (any kind in MODELS), quantities included."""
    kind = (manifest.get("apiVersion"), manifest.get("kind"))
    if kind not in MODELS:
        return [f"$: {kind[0]}/{kind[1]} is not a kind this check knows"]
    errors = schema_errors(manifest, MODELS[kind])
    name = manifest.get("metadata", {}).get("name")
    if name is not None and not _DNS_1123.match(name):
        errors.append(f"$.metadata.name: {name!r} is not a DNS-1123 label")
    if kind == ("batch/v1", "Job"):
        errors += _job_errors(manifest)
    return errors


def _job_errors(job: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    pod = job["spec"]["template"]["spec"]
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        errors.append("$.spec.template.spec.restartPolicy: a Job's pods need Never or OnFailure")
    for i, container in enumerate(pod.get("containers", [])):
        for section, quantities in container.get("resources", {}).items():
            for resource, quantity in quantities.items():
                try:
                    parse_quantity(quantity)
                except ValueError:
                    errors.append(
                        f"$.spec.template.spec.containers[{i}].resources.{section}.{resource}:"
                        f" {quantity!r} is not a quantity"
                    )
    return errors


def rbac_manifests(path: Path = RBAC) -> list[dict[str, Any]]:
    """Return the objects of rbac.yaml."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
