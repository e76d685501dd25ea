"""The kops CLI twin: ``kops`` 1.36 commands against the twin's AWS and Kubernetes API."""

from __future__ import annotations

from sandbox.kops.executable import install_executable

__all__ = ["install_executable"]
