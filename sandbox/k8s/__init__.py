"""The twin's Kubernetes API server (kmock-based) and its built-in controllers."""

from sandbox.k8s.exceptions import KubeApiError
from sandbox.k8s.runtime import NullPodRuntime, PodRuntime
from sandbox.k8s.server import KubeApiServer

__all__ = ["KubeApiError", "KubeApiServer", "NullPodRuntime", "PodRuntime"]
