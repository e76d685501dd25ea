"""``kops validate cluster``: one attempt, or attempts until ``--wait`` runs out."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sandbox.kops.exceptions import KopsError, ValidationFailed
from sandbox.kops.output import render_table, to_json, to_yaml

if TYPE_CHECKING:  # boto3 and cryptography load late: `kops version` must stay quick
    from sandbox.kops.program import Program
    from sandbox.kops.validation import ValidationResult


def validate_cluster(program: Program) -> int:
    """``kops validate cluster``: one attempt, or attempts until ``--wait`` runs out."""
    name = program.cluster_name(from_kubeconfig=True)
    output = str(program.value("output", "table"))
    wait = float(program.value("wait", 0.0))
    count = int(program.value("count", 0))
    interval = float(program.value("interval", 10.0))
    try:
        backend = program.backend()
        cluster = backend.cluster(name)
        backend.require_ca(name)
    except KopsError as exc:
        raise ValidationFailed(exc.message) from exc
    if output == "table":
        program.out.write(f"Validating cluster {cluster['metadata']['name']}\n\n")
    deadline = time.monotonic() + wait
    consecutive = 0
    while True:
        if wait > 0 and time.monotonic() > deadline and consecutive == 0:
            raise ValidationFailed("wait time exceeded during validation")
        try:
            result = backend.validate_cluster(name)
        except KopsError as exc:
            consecutive = 0
            if wait > 0:
                program.warning("validate_cluster.go:202", f"(will retry): {exc.message}")
                program.sleep(interval)
                continue
            raise ValidationFailed(exc.message) from exc
        _write_validation(program, result, name, output)
        if not result.failures:
            consecutive += 1
            if consecutive < count:
                program.info(
                    "validate_cluster.go:222",
                    f"(will retry): cluster passed validation {consecutive} consecutive times",
                )
                if wait > 0:
                    program.sleep(interval)
                    continue
                raise ValidationFailed(f"cluster passed validation {consecutive} consecutive times")
            return 0
        if wait > 0:
            program.warning("validate_cluster.go:232", "(will retry): cluster not yet healthy")
            consecutive = 0
            program.sleep(interval)
            continue
        raise ValidationFailed("cluster not yet healthy")


def _write_validation(program: Program, result: ValidationResult, name: str, output: str) -> None:
    from sandbox.kops.cluster_spec import internal_role

    if output == "json":
        program.out.write(to_json(result.as_json()))
    elif output == "yaml":
        program.out.write(to_yaml(result.as_json()))
    elif output == "table":
        rows = [
            [
                g["metadata"]["name"],
                internal_role(g),
                g["spec"].get("machineType", ""),
                str(g["spec"].get("minSize", "")),
                str(g["spec"].get("maxSize", "")),
                ",".join(g["spec"].get("subnets", [])),
            ]
            for g in result.groups
        ]
        program.out.write("INSTANCE GROUPS\n")
        program.out.write(
            render_table(["NAME", "ROLE", "MACHINETYPE", "MIN", "MAX", "SUBNETS"], rows)
        )
        program.out.write("\nNODE STATUS\n")
        program.out.write(
            render_table(
                ["NAME", "ROLE", "READY"],
                [[n["name"], n["role"], n["status"]] for n in result.nodes],
            )
        )
        if result.failures:
            program.out.write("\nVALIDATION ERRORS\n")
            program.out.write(
                render_table(
                    ["KIND", "NAME", "MESSAGE"],
                    [[f["type"], f["name"], f["message"]] for f in result.failures],
                )
            )
            program.out.write("\nValidation Failed\n")
        else:
            program.out.write(f"\nYour cluster {name} is ready\n")
    else:
        raise KopsError(f'unknown output format: "{output}"')
    program.out.flush()
