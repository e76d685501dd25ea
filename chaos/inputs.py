"""Bad inputs: every spec field with invalid, hostile (shell metacharacters, flag injection, path
traversal, reserved tags) and boundary values, given to the ``provision`` flow as run parameters
the way a deployment run gets them. Each must be refused before any write; boundary values just
inside the limits must be accepted."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import ValidationError

from chaos.report import Row, Section
from chaos.twin import ChaosTwin
from flows.provision import provision
from flows.teardown import teardown
from kops_nlb.core.spec import EnvironmentSpec

CLUSTER = "inputs.k8s.local"
REFUSED: list[tuple[str, Any, str]] = [
    ("cluster_name", "", "invalid"),
    ("cluster_name", "Bad_Name.k8s.local", "invalid"),
    ("cluster_name", "a;rm -rf ~.k8s.local", "hostile: shell"),
    ("cluster_name", "$(id).k8s.local", "hostile: shell"),
    ("cluster_name", "../../etc/passwd", "hostile: path traversal"),
    ("cluster_name", "a" * 47 + ".k8s.local", "boundary: 57 characters"),
    ("region", "tokyo", "invalid"),
    ("region", "ap-northeast-1; curl evil.example", "hostile: shell"),
    ("zones", [], "boundary: none"),
    ("zones", ["us-east-1a"], "invalid: another region"),
    ("zones", ["ap-northeast-1a", "ap-northeast-1a"], "invalid: twice"),
    ("zones", ["ap-northeast-1a`id`"], "hostile: shell"),
    ("control_plane_size", "t3.medium --yes", "hostile: flag injection"),
    ("control_plane_count", 2, "invalid"),
    ("node_size", "$(curl evil.example)", "hostile: shell"),
    ("node_count", 0, "boundary: below 1"),
    ("node_count", 51, "boundary: above 50"),
    ("node_volume_size", 7, "boundary: below 8"),
    ("kubernetes_version", "1.9.1", "invalid: unsupported"),
    ("kubernetes_version", "1.35.0 --yes", "hostile: flag injection"),
    ("networking", "calico --bastion", "hostile: flag injection"),
    ("topology", "mesh", "invalid"),
    ("dns", "public", "invalid: .k8s.local needs none"),
    ("network_cidr", "10.0.0.0/33", "invalid"),
    ("network_cidr", "10.0.0.0/8; id", "hostile: shell"),
    ("state_store_bucket", "Bad_Bucket", "invalid"),
    ("state_store_bucket", "../other-bucket", "hostile: path traversal"),
    ("state_store_bucket", "a" * 64, "boundary: 64 characters"),
    ("nginx_image", "nginx latest", "invalid"),
    ("nginx_image", "nginx:1.27;id", "hostile: shell"),
    ("nginx_replicas", 21, "boundary: above 20"),
    ("namespace", "../kube-system", "hostile: path traversal"),
    ("namespace", "a" * 64, "boundary: 64 characters"),
    ("deployment_name", "nginx/../../x", "hostile: path traversal"),
    ("service_name", "nginx$(id)", "hostile: shell"),
    ("service_port", 65536, "boundary: above 65535"),
    ("container_port", 0, "boundary: 0"),
    ("internal", "maybe", "invalid"),
    ("external_traffic_policy", "Nearest", "invalid"),
    ("bastion_instance_type", "t3.micro && id", "hostile: shell"),
    ("extra_tags", {"KubernetesCluster": "other.k8s.local"}, "hostile: reserved tag"),
    ("extra_tags", {"kubernetes.io/cluster/other.k8s.local": "owned"}, "hostile: reserved tag"),
    ("extra_tags", {"kops-nlb-flows/cluster": "other"}, "hostile: reserved tag"),
    ("extra_tags", {"aws:cloudformation:stack-name": "x"}, "hostile: reserved tag"),
    ("extra_tags", {"k" * 129: "v"}, "boundary: 129-character key"),
    ("extra_tags", {f"t{i}": "v" for i in range(41)}, "boundary: 41 tags"),
    ("admin_credential_ttl", "2h; id", "hostile: shell"),
    ("load_balancer_controller", "alb; id", "hostile: shell"),
    ("target_type", "ip", "invalid: ip targets need the AWS Load Balancer Controller"),
    ("preserve_client_ip", "sometimes", "invalid"),
    ("proxy_protocol_v2", True, "invalid: with instance targets and Local"),
    ("negative_control", "maybe", "invalid"),
    ("timeouts", {"cluster_valid": 0}, "boundary: 0 s"),
    ("timeouts", {"kops_command": 7201}, "boundary: above 7200 s"),
    ("poll", {"initial": 0}, "boundary: 0 s"),
    ("kops_executable", "/bin/sh", "hostile: a program to run"),
    ("kubeconfig_path", "/etc/cron.d/x", "hostile: a file to write"),
    ("kubeconfig_path", "../../../root/.bashrc", "hostile: path traversal"),
    ("kops_flags", ["--yes"], "hostile: unknown field"),
]
ACCEPTED: list[tuple[str, Any, str]] = [
    ("cluster_name", "a" * 46 + ".k8s.local", "boundary: 56 characters"),
    ("node_count", 50, "boundary: 50"),
    ("node_volume_size", 8, "boundary: 8"),
    ("service_port", 65535, "boundary: 65535"),
    ("extra_tags", {f"t{i}": "v" * 256 for i in range(40)}, "boundary: 40 tags of 256"),
    ("nginx_image", "registry.example.com:5000/team/nginx:1.27", "boundary: registry and port"),
]
COLUMNS = ("field", "value", "kind", "outcome", "writes")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return f"`{text[:60]}…`" if len(text) > 60 else f"`{text}`"


def _refusal(twin: ChaosTwin, field: str, value: Any, kind: str) -> Row:
    parameters = json.loads(json.dumps({"cluster_name": CLUSTER, field: value}))
    before = twin.writes()
    try:
        provision(spec=parameters)
        outcome, refused = "accepted: the run went ahead", False
    except Exception as exc:  # noqa: BLE001 - the refusal is the measurement
        message = " ".join(str(exc).split())
        detail = message.split("Value error, ")[-1] if "Value error, " in message else message
        outcome, refused = f"refused ({type(exc).__name__}): {detail[:140]}", True
    writes = twin.writes() - before
    broke = []
    if not refused:
        broke.append("accepted")
    if writes:
        broke.append(f"wrote {dict(writes)}")
    return Row(
        cells=(field, _short(value), kind, outcome, str(sum(writes.values()))),
        held=not broke,
        broke="; ".join(broke),
    )


def _acceptance(field: str, value: Any, kind: str) -> Row:
    try:
        EnvironmentSpec.model_validate({"cluster_name": CLUSTER, field: value})
        return Row((field, _short(value), kind, "accepted (spec only, nothing run)", "0"), True)
    except ValidationError as exc:
        return Row(
            (field, _short(value), kind, f"refused: {exc.errors()[0]['msg']}", "0"),
            False,
            "a value inside the limits was refused",
        )


def _wrong_confirmation(twin: ChaosTwin) -> Row:
    spec = EnvironmentSpec(cluster_name=CLUSTER)
    before = twin.writes()
    try:
        teardown(spec=spec, confirm_cluster_name="other.k8s.local", require_approval=False)
        outcome, refused = "accepted", False
    except Exception as exc:  # noqa: BLE001
        outcome, refused = f"refused ({type(exc).__name__}): {str(exc)[:120]}", True
    writes = twin.writes() - before
    held = refused and not writes
    cells = ("teardown confirm_cluster_name", '`"other.k8s.local"`', "invalid: another name")
    return Row((*cells, outcome, str(sum(writes.values()))), held, "" if held else "not refused")


def run(twin: ChaosTwin) -> Section:
    """Try every input and return the table."""
    section = Section(
        title="Bad inputs",
        intro=(
            "Each value is given to the `provision` flow as its `spec` run parameter (JSON, as "
            "a deployment run passes it), with `cluster_name` set to a valid name. 'writes' "
            "counts every AWS write, Kubernetes write and kops command the twin served from the "
            "call until the refusal. The last rows are values just inside the limits, which the "
            "spec must accept."
        ),
        columns=COLUMNS,
    )
    started = time.monotonic()
    section.rows += [_refusal(twin, *case) for case in REFUSED]
    section.rows.append(_wrong_confirmation(twin))
    section.rows += [_acceptance(*case) for case in ACCEPTED]
    section.seconds = time.monotonic() - started
    return section
