"""The kops state store in S3, laid out like kops's VFS clientset.

``s3://bucket[/prefix]/NAME/config`` holds the Cluster, ``NAME/instancegroup/<ig>`` each
InstanceGroup (both as versioned YAML), ``NAME/pki/...`` the CA, and ``NAME/sandbox-state`` the
twin's own bookkeeping (JSON: ids of what it built, validation counters), which real kops lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from sandbox.kops.exceptions import KopsError

CLUSTER_FILE = "config"
INSTANCE_GROUP_DIR = "instancegroup"
SANDBOX_FILE = "sandbox-state"
CA_FILE = "pki/private/kubernetes-ca/keyset.yaml"

INVALID_STATE_ERROR = (
    "Unable to read state store.\n"
    "Please use a valid state store when setting --state or KOPS_STATE_STORE env var.\n"
    "For example, a valid value follows the format s3://<bucket>.\n"
    "Trailing slash will be trimmed."
)


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in ("NoSuchKey", "404", "NotFound")


@dataclass
class StateStore:
    """One state store: a bucket and an optional prefix, read and written through boto3."""

    url: str
    bucket: str
    prefix: str
    s3: Any

    @classmethod
    def from_url(cls, url: str, s3: Any) -> StateStore:
        """Return the store at ``s3://bucket[/prefix]``; other schemes are not emulated."""
        url = url.rstrip("/")
        if not url.startswith("s3://") or len(url) <= len("s3://"):
            raise KopsError(INVALID_STATE_ERROR)
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return cls(url=url, bucket=bucket, prefix=prefix.strip("/"), s3=s3)

    def key(self, cluster: str, path: str) -> str:
        """Return the object key of ``path`` under a cluster."""
        return "/".join(part for part in (self.prefix, cluster, path) if part)

    def config_base(self, cluster: str) -> str:
        """Return the cluster's configBase URL."""
        return f"{self.url}/{cluster}"

    def _error(self, cluster: str, path: str, exc: Exception) -> KopsError:
        """Return kops's error for a failed read, in the words of its VFS and the Go SDK."""
        response = getattr(exc, "response", {})
        code = response.get("Error", {}).get("Code", type(exc).__name__)
        message = response.get("Error", {}).get("Message", str(exc))
        meta = response.get("ResponseMetadata", {})
        where = f"s3://{self.bucket}/{self.key(cluster, path)}"
        sdk = (
            f"operation error S3: GetObject, https response error StatusCode: "
            f"{meta.get('HTTPStatusCode', 0)}, RequestID: {meta.get('RequestId', '')}, "
            f"HostID: {meta.get('HostId', '')}, api error {code}: {message}"
        )
        return KopsError(
            f'error reading cluster configuration "{cluster}": error reading {where}: '
            f"error fetching {where}: {sdk}"
        )

    def read(self, cluster: str, path: str) -> bytes | None:
        """Return an object's bytes, or None when it does not exist."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key(cluster, path))
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise self._error(cluster, path, exc) from exc
        body: bytes = response["Body"].read()
        return body

    def write(self, cluster: str, path: str, data: bytes | str) -> None:
        """Write an object."""
        body = data.encode() if isinstance(data, str) else data
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key(cluster, path), Body=body)
        except Exception as exc:
            raise self._error(cluster, path, exc) from exc

    def read_yaml(self, cluster: str, path: str) -> dict[str, Any] | None:
        """Return a YAML object, or None when it does not exist."""
        data = self.read(cluster, path)
        return None if data is None else yaml.safe_load(data)

    def write_yaml(self, cluster: str, path: str, obj: dict[str, Any]) -> None:
        """Write an object as YAML."""
        self.write(cluster, path, yaml.safe_dump(obj, sort_keys=True))

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except Exception as exc:
            raise self._error("", prefix, exc) from exc
        return keys

    def cluster(self, name: str) -> dict[str, Any] | None:
        """Return the stored Cluster, or None."""
        return self.read_yaml(name, CLUSTER_FILE)

    def cluster_names(self) -> list[str]:
        """Return the names of every cluster in the store, sorted."""
        base = f"{self.prefix}/" if self.prefix else ""
        names = []
        for key in self._keys(base):
            rest = key[len(base) :]
            name, _, tail = rest.rpartition("/")
            if tail == CLUSTER_FILE and name and "/" not in name:
                names.append(name)
        return sorted(names)

    def instance_groups(self, cluster: str) -> list[dict[str, Any]]:
        """Return the cluster's InstanceGroups, sorted by name."""
        groups = []
        prefix = self.key(cluster, INSTANCE_GROUP_DIR) + "/"
        for key in sorted(self._keys(prefix)):
            group = self.read_yaml(cluster, key[len(self.key(cluster, "")) + 1 :])
            if group:
                groups.append(group)
        return groups

    def sandbox_state(self, cluster: str) -> dict[str, Any]:
        """Return the twin's bookkeeping for a cluster ({} when none)."""
        data = self.read(cluster, SANDBOX_FILE)
        return {} if data is None else dict(json.loads(data))

    def save_sandbox_state(self, cluster: str, state: dict[str, Any]) -> None:
        """Write the twin's bookkeeping for a cluster."""
        self.write(cluster, SANDBOX_FILE, json.dumps(state, indent=1, sort_keys=True))

    def delete_cluster(self, cluster: str) -> None:
        """Delete every object under the cluster's prefix."""
        keys = self._keys(self.key(cluster, "") + "/")
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk]}
            )
