"""kubeconfig files as kops writes them.

The kubeconfig gets a cluster, a context and (with credentials) a user, all named after the
cluster; it is merged into an existing file and becomes the current context; a new file is
created with mode 0600 (its directory 0755), as client-go does.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def kubeconfig_path(env: Mapping[str, str], explicit: str | None = None) -> Path:
    """Return the file kops writes: ``--kubeconfig``, else the first ``$KUBECONFIG``, else ~/.kube/config."""
    if explicit:
        return Path(explicit).expanduser()
    listed = [part for part in env.get("KUBECONFIG", "").split(os.pathsep) if part]
    if listed:
        for part in listed:
            if Path(part).expanduser().exists():
                return Path(part).expanduser()
        return Path(listed[0]).expanduser()
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".kube" / "config"


def _load(path: Path) -> dict[str, Any]:
    if not path.exists() or not path.read_text().strip():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    loaded = yaml.safe_load(path.read_text()) or {}
    return dict(loaded)


def _upsert(items: list[dict[str, Any]], name: str, key: str, value: dict[str, Any]) -> None:
    for item in items:
        if item.get("name") == name:
            item[key] = value
            return
    items.append({"name": name, key: value})


def _save(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=True)
    if path.exists():
        path.write_text(text)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_kubeconfig(
    path: Path,
    *,
    cluster: str,
    server: str,
    ca_pem: str,
    tls_server_name: str,
    client_cert_pem: str | None,
    client_key_pem: str | None,
    user: str | None = None,
) -> None:
    """Merge the cluster, its context and (with credentials) its user into a kubeconfig file."""
    config = _load(path)
    clusters = config.setdefault("clusters", []) or []
    config["clusters"] = clusters
    _upsert(
        clusters,
        cluster,
        "cluster",
        {
            "certificate-authority-data": _b64(ca_pem),
            "server": server,
            "tls-server-name": tls_server_name,
        },
    )
    context: dict[str, Any] = {"cluster": cluster}
    users = config.get("users") or []
    config["users"] = users
    if user:
        context["user"] = user
    elif client_cert_pem and client_key_pem:
        _upsert(
            users,
            cluster,
            "user",
            {
                "client-certificate-data": _b64(client_cert_pem),
                "client-key-data": _b64(client_key_pem),
            },
        )
        context["user"] = cluster
    contexts = config.get("contexts") or []
    config["contexts"] = contexts
    for item in contexts:
        if item.get("name") == cluster and not context.get("user"):
            previous = (item.get("context") or {}).get("user")
            if previous:
                context["user"] = previous
    _upsert(contexts, cluster, "context", context)
    config["current-context"] = cluster
    _save(path, config)


def delete_kubeconfig_context(path: Path, cluster: str) -> bool:
    """Remove the cluster's entries from a kubeconfig file; return whether the file had content."""
    if not path.exists():
        return False
    config = _load(path)
    if not (config.get("clusters") or config.get("contexts") or config.get("users")):
        return False
    for key in ("clusters", "contexts", "users"):
        config[key] = [
            item
            for item in config.get(key) or []
            if item.get("name") not in (cluster, f"{cluster}-basic-auth")
        ]
    if config.get("current-context") == cluster:
        config["current-context"] = ""
    _save(path, config)
    return True
