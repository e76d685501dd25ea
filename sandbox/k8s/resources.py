"""The resource types the twin's API server serves, and how their URLs are spelled."""

from __future__ import annotations

from dataclasses import dataclass

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: its group/version/plural, kind and what it supports."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    field_labels: frozenset[str] = _COMMON_FIELDS
    tracks_generation: bool = False  # metadata.generation follows spec changes

    @property
    def key(self) -> str:
        """Return ``v1/pods`` or ``apps/v1/deployments``: how callers name the resource."""
        return f"{self.api_version}/{self.plural}"

    @property
    def api_version(self) -> str:
        """Return the ``apiVersion`` of this resource's objects."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """Return the lower-case singular name used by discovery."""
        return self.kind.lower()

    @property
    def verbs(self) -> tuple[str, ...]:
        """Return the verbs discovery advertises."""
        return _ALL_VERBS

    @property
    def has_status(self) -> bool:
        """Whether ``status`` is a subresource, i.e. only writable through ``/status``."""
        return "status" in self.subresources

    @property
    def base_path(self) -> str:
        """Return ``/api/v1`` or ``/apis/apps/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


NAMESPACES = ResourceType(
    group="",
    version="v1",
    plural="namespaces",
    kind="Namespace",
    namespaced=False,
    subresources=frozenset({"status", "finalize"}),
    short_names=("ns",),
    field_labels=frozenset({"metadata.name", "status.phase"}),
)
NODES = ResourceType(
    group="",
    version="v1",
    plural="nodes",
    kind="Node",
    namespaced=False,
    subresources=frozenset({"status"}),
    short_names=("no",),
    field_labels=frozenset({"metadata.name", "spec.unschedulable"}),
)
PODS = ResourceType(
    group="",
    version="v1",
    plural="pods",
    kind="Pod",
    namespaced=True,
    subresources=frozenset({"status", "log"}),
    short_names=("po",),
    field_labels=_COMMON_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
)
SERVICES = ResourceType(
    group="",
    version="v1",
    plural="services",
    kind="Service",
    namespaced=True,
    subresources=frozenset({"status"}),
    short_names=("svc",),
    field_labels=_COMMON_FIELDS | {"spec.clusterIP", "spec.type"},
)
CONFIGMAPS = ResourceType(
    group="",
    version="v1",
    plural="configmaps",
    kind="ConfigMap",
    namespaced=True,
    short_names=("cm",),
)
SECRETS = ResourceType(
    group="",
    version="v1",
    plural="secrets",
    kind="Secret",
    namespaced=True,
    field_labels=_COMMON_FIELDS | {"type"},
)
DEPLOYMENTS = ResourceType(
    group="apps",
    version="v1",
    plural="deployments",
    kind="Deployment",
    namespaced=True,
    subresources=frozenset({"status", "scale"}),
    short_names=("deploy",),
    tracks_generation=True,
)

RESOURCES: tuple[ResourceType, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    CONFIGMAPS,
    SECRETS,
    DEPLOYMENTS,
)
_BY_KEY = {resource.key: resource for resource in RESOURCES}
_BY_GVP = {(r.group, r.version, r.plural): r for r in RESOURCES}


def lookup(key: str) -> ResourceType:
    """Return the resource named ``v1/nodes`` or ``apps/v1/deployments``; KeyError if unknown."""
    try:
        return _BY_KEY[key.strip("/")]
    except KeyError:
        raise KeyError(f"unknown resource {key!r}; served: {sorted(_BY_KEY)}") from None


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """Return the served resource with this group, version and plural, if any."""
    return _BY_GVP.get((group, version, plural))


@dataclass(frozen=True)
class ApiPath:
    """A request path split into its Kubernetes parts (all None for non-API paths)."""

    group: str | None = None  # "" for the core group
    version: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def is_resource(self) -> bool:
        """Whether the path addresses a resource (not discovery or a non-API path)."""
        return self.group is not None and self.version is not None and self.plural is not None


def parse_path(path: str) -> ApiPath:
    """Split ``/api/v1/namespaces/ns/pods/x/log`` and the like into their parts.

    The core ``namespaces`` resource is recognised in all its forms:
    ``/api/v1/namespaces``, ``/api/v1/namespaces/{name}`` and ``.../{name}/status``.
    """
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in ("api", "apis"):
        return ApiPath()
    if parts[0] == "api":
        group: str = ""
        rest = parts[1:]
    else:
        if len(parts) < 2:
            return ApiPath()
        group, rest = parts[1], parts[2:]
    if not rest:
        return ApiPath(group=group)
    version, rest = rest[0], rest[1:]
    if not rest:
        return ApiPath(group=group, version=version)

    namespace: str | None = None
    # /namespaces/{ns}/{plural}... unless it is a namespace's own subresource.
    own_subresource = group == "" and len(rest) == 3 and rest[2] in NAMESPACES.subresources
    if rest[0] == "namespaces" and len(rest) >= 3 and not own_subresource:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return ApiPath(group, version, plural, namespace, name, subresource)
