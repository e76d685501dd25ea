"""The mirror pods of a control-plane node: how its static pods appear in the API.

On a kops control-plane instance the kubelet runs kube-apiserver, kube-controller-manager and
kube-scheduler from manifests on disk and mirrors each as a pod in kube-system named
``<component>-<node>``, labelled ``k8s-app=<component>``, annotated ``kubernetes.io/config.mirror``.
``kops validate cluster`` looks for exactly these on every control-plane node. In the twin the
programs really run (``sandbox.controlplane``); these pods only report them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.controlplane.binaries import KUBERNETES_VERSION

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def is_mirror(pod: dict[str, Any]) -> bool:
    """Whether a pod is a static pod's mirror (the kubelet runs it from disk, not from the API)."""
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def mirror_pod(component: str, node_name: str) -> dict[str, Any]:
    """Return the mirror pod of one control-plane component on ``node_name``."""
    digest = hashlib.md5(f"{component}/{node_name}".encode(), usedforsecurity=False).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{component}-{node_name}",
            "namespace": "kube-system",
            "labels": {"k8s-app": component},
            "annotations": {
                MIRROR_ANNOTATION: digest,
                "kubernetes.io/config.hash": digest,
                "kubernetes.io/config.source": "file",
            },
        },
        "spec": {
            "nodeName": node_name,
            "hostNetwork": True,
            "priorityClassName": "system-cluster-critical",
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [
                {
                    "name": component,
                    "image": f"registry.k8s.io/{component}:v{KUBERNETES_VERSION}",
                    "command": [f"/usr/local/bin/{component}"],
                }
            ],
        },
    }
