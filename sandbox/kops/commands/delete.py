"""``kops delete cluster``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.kops import kubeconfig as kubeconfig_files
from sandbox.kops.exceptions import KopsError
from sandbox.kops.output import render_table

if TYPE_CHECKING:
    from sandbox.kops.program import Program


def delete_cluster(program: Program) -> int:
    """``kops delete cluster NAME [--yes]``: list (and with --yes delete) what kops made."""
    name = program.cluster_name(from_kubeconfig=False)
    if program.value("external"):
        raise KopsError("the twin does not emulate --external: it deletes clusters it knows")
    backend = program.backend()
    backend.cluster(name)
    resources = [] if program.value("unregister") else backend.cluster_resources(name)
    yes = bool(program.value("yes"))
    if not program.value("unregister"):
        program.info("delete_cluster.go:144", "Looking for cloud resources to delete")
        if not resources:
            program.out.write("No cloud resources to delete\n")
        else:
            rows = [[r.type, r.name, r.id] for r in resources]
            program.out.write(render_table(["TYPE", "NAME", "ID"], rows))
            if not yes:
                program.out.write("\nMust specify --yes to delete cluster\n")
                return 0
            program.out.write("\n")
    if not yes:
        program.out.write("\nMust specify --yes to unregister the cluster\n")
        return 0
    for line in backend.delete_cluster(name, resources):
        program.out.write(line + "\n")
        program.out.flush()
    path = kubeconfig_files.kubeconfig_path(program.env)
    if kubeconfig_files.delete_kubeconfig_context(path, name):
        program.out.write(f"Deleted kubectl config for {name}\n")
    program.out.write(f'\nDeleted cluster: "{name}"\n')
    return 0
