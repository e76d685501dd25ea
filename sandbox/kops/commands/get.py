"""``kops get clusters`` and ``kops get instancegroups``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.kops.exceptions import KopsError
from sandbox.kops.output import render_table, to_json, to_yaml

if TYPE_CHECKING:
    from sandbox.kops.program import Program


def get_clusters(program: Program) -> int:
    """``kops get cluster(s) [NAME...] [-o table|json|yaml]``."""
    names = list(program.parsed.args)
    if program.value("name"):
        if names:
            raise KopsError("cannot mix --name for cluster with positional arguments")
        names = [str(program.value("name"))]
    output = str(program.value("output", "table"))
    if output not in ("table", "json", "yaml"):
        raise KopsError(f'unknown output format: "{output}"')
    clusters = program.backend().get_clusters(names)
    if program.value("full"):
        program.out.write(
            "\n//\n//   WARNING: Do not use a '--full' cluster specification to define a "
            "Kubernetes installation.\n//   You may experience unexpected behavior and other "
            "bugs.  Use only the required elements\n//   and any modifications that you "
            "require.\n//\n//   Use the following command to retrieve only the required "
            "elements:\n//   $ kops get cluster -o yaml\n//\n\n"
        )
    if output == "table":
        rows = []
        for cluster in clusters:
            zones = sorted({s["zone"] for s in cluster["spec"].get("subnets", []) if s.get("zone")})
            rows.append(
                [
                    cluster["metadata"]["name"],
                    cluster["spec"].get("cloudProvider", "aws"),
                    ",".join(zones),
                ]
            )
        program.out.write(render_table(["NAME", "CLOUD", "ZONES"], rows))
    elif output == "yaml":
        program.out.write("\n---\n\n".join(to_yaml(c) for c in clusters))
    elif len(names) == 1:
        program.out.write(to_json(clusters[0]) + "\n")
    else:
        program.out.write("[" + ",".join(to_json(c) + "\n" for c in clusters) + "]")
    return 0


def get_instance_groups(program: Program) -> int:
    """``kops get instancegroups --name NAME [IG...] [-o table|json|yaml]``."""
    name = program.cluster_name(from_kubeconfig=True)
    output = str(program.value("output", "table"))
    if output not in ("table", "json", "yaml"):
        raise KopsError(f'unknown output format: "{output}"')
    backend = program.backend()
    backend.cluster(name)
    wanted = list(program.parsed.args)
    groups = [
        g for g in backend.instance_groups(name) if not wanted or g["metadata"]["name"] in wanted
    ]
    if not groups:
        raise KopsError(f"no InstanceGroup objects found for cluster {name!r}")
    if output == "table":
        rows = [
            [
                g["metadata"]["name"],
                g["spec"]["role"],
                g["spec"].get("machineType", ""),
                str(g["spec"].get("minSize", "")),
                str(g["spec"].get("maxSize", "")),
                ",".join(g["spec"].get("subnets", [])),
            ]
            for g in groups
        ]
        program.out.write(
            render_table(["NAME", "ROLE", "MACHINETYPE", "MIN", "MAX", "ZONES"], rows)
        )
    elif output == "yaml":
        program.out.write("\n---\n\n".join(to_yaml(g) for g in groups))
    else:  # kops prints a list even for one group
        program.out.write("[" + ",".join(to_json(g) + "\n" for g in groups) + "]")
    return 0
