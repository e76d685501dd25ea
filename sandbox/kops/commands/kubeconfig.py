"""``kops export kubecfg``: admin or user credentials into a kubeconfig."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.kops.exceptions import KopsError

if TYPE_CHECKING:
    from sandbox.kops.program import Program


def export_kubeconfig(program: Program) -> int:
    """``kops export kubeconfig NAME [--admin[=TTL]|--user U] [--kubeconfig PATH]``."""
    admin = program.value("admin")
    user = program.value("user")
    if admin and user:
        raise KopsError("cannot use both --admin and --user")
    backend = program.backend()
    if program.value("all"):
        if program.parsed.args:
            raise KopsError("cannot use both --all flag and positional arguments")
        names = backend.store.cluster_names()
    else:
        names = [program.cluster_name(from_kubeconfig=True)]
    for name in names:
        backend.cluster(name)
        program.write_kubeconfig(
            backend,
            name,
            admin=admin,
            user=user,
            internal=bool(program.value("internal")),
            path=program.value("kubeconfig"),
        )
    return 0
