"""One run of the emulated kops: parsed flags, streams, environment, and the shared steps.

Each command lives in ``sandbox.kops.commands``; ``Program.run`` dispatches to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from sandbox.kops import kubeconfig as kubeconfig_files
from sandbox.kops.commands import create, delete, get, kubeconfig, validate, version
from sandbox.kops.exceptions import KopsError, StateStoreRequired
from sandbox.kops.flags import USES
from sandbox.kops.parsing import Parsed
from sandbox.kops.utils import klog_line

if TYPE_CHECKING:  # boto3 and cryptography load late: `kops version` must stay quick
    from sandbox.kops.models import KopsBackend


class Program:
    """One invocation: parsed flags, streams and the environment."""

    def __init__(
        self,
        parsed: Parsed,
        *,
        env: Mapping[str, str],
        stdout: TextIO,
        stderr: TextIO,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.parsed = parsed
        self.env = env
        self.out = stdout
        self.err = stderr
        self.sleep = sleep

    def value(self, key: str, default: Any = None) -> Any:
        """Return a flag's value, or ``default`` when it was not given."""
        return self.parsed.values.get(key, default)

    def info(self, source: str, message: str) -> None:
        """Write a klog info line to stderr."""
        self.err.write(klog_line("I", source, message))

    def warning(self, source: str, message: str) -> None:
        """Write a klog warning line to stderr."""
        self.err.write(klog_line("W", source, message))

    def warn_twin(self, message: str) -> None:
        """Write a warning about the twin itself to stderr."""
        self.err.write(f"sandbox: warning: {message}\n")

    # -- shared ----------------------------------------------------------------------------
    def state_url(self) -> str:
        """Return ``--state`` or ``KOPS_STATE_STORE`` (trailing slash trimmed)."""
        url = str(self.value("state") or self.env.get("KOPS_STATE_STORE", "")).rstrip("/")
        if not url:
            raise StateStoreRequired()
        return url

    def backend(self) -> KopsBackend:
        """Return a backend on the state store."""
        from sandbox.kops.models import KopsBackend

        return KopsBackend(state_url=self.state_url(), env=self.env, warn=self.warn_twin)

    def cluster_name(self, *, from_kubeconfig: bool) -> str:
        """Return the cluster name: ``--name``, one positional argument, or the kubectl context."""
        name = str(self.value("name") or self.env.get("KOPS_CLUSTER_NAME", ""))
        args = self.parsed.args
        if args:
            if len(args) == 1 and not name:
                return args[0]
            lines = ["", "Found multiple arguments which look like a cluster name"]
            if name:
                lines.append(f'\t"{name}" (via flag)')
            lines += [f'\t"{arg}" (as argument)' for arg in args]
            lines += [
                "",
                "This often happens if you specify an argument to a boolean flag without using =",
                "For example: use `--bastion=true` or `--bastion`, not `--bastion true`",
                "",
                "",
            ]
            self.out.write("\n".join(lines))
            if len(args) == 1:
                raise KopsError("cannot specify cluster via --name and positional argument")
            raise KopsError("expected a single <clustername> to be passed as an argument")
        if not name and from_kubeconfig:
            path = kubeconfig_files.kubeconfig_path(self.env)
            if path.exists():
                config = yaml.safe_load(path.read_text()) or {}
                current = config.get("current-context")
                for context in config.get("contexts") or []:
                    if context.get("name") == current and (context.get("context") or {}).get(
                        "cluster"
                    ):
                        name = context["context"]["cluster"]
                        self.err.write(f"Using cluster from kubectl context: {name}\n\n")
        if not name:
            raise KopsError("--name is required")
        return name

    def write_kubeconfig(
        self,
        backend: KopsBackend,
        name: str,
        *,
        admin: float | None,
        user: str | None,
        internal: bool,
        path: str | None = None,
    ) -> None:
        """Export the cluster's kubeconfig and say so like kops."""
        target = kubeconfig_files.kubeconfig_path(self.env, path)
        backend.export_kubecfg(
            name, path=target, admin_lifetime=admin, user=user, internal=internal
        )
        self.out.write(f"kOps has set your kubectl context to {name}\n")

    # -- commands ----------------------------------------------------------------------------
    def run(self) -> int:
        """Run the parsed command; return the exit code."""
        if self.value("help"):
            usage = USES.get(self.parsed.command, "kops [command]")
            self.out.write(f"Usage:\n  {usage}\n")
            return 0
        handler = HANDLERS.get(self.parsed.command)
        if handler is None:
            self.out.write("kOps is Kubernetes Operations.\n\nUsage:\n  kops [command]\n")
            return 0
        return handler(self)


HANDLERS: dict[str, Callable[[Program], int]] = {
    "create cluster": create.create_cluster,
    "update cluster": create.update_cluster,
    "get clusters": get.get_clusters,
    "get instancegroups": get.get_instance_groups,
    "validate cluster": validate.validate_cluster,
    "export kubeconfig": kubeconfig.export_kubeconfig,
    "delete cluster": delete.delete_cluster,
    "version": version.version,
}
"""Each command's function, by the command words the parser resolves."""
