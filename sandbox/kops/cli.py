"""The command line of the emulated kops: cobra/pflag parsing, kops's output formats and exit codes.

``main(argv)`` parses like kops v1.36 (flags before or after the command, ``--flag value`` and
``--flag=value``, shorthands, optional values such as ``--admin[=TTL]``, unknown flags rejected,
deprecated ones accepted with cobra's warning), calls ``models.KopsBackend`` and prints what kops
prints: tables, versioned JSON/YAML, ``Error: ...`` on stderr with exit code 1.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from sandbox.kops import kubeconfig as kubeconfig_files
from sandbox.kops.exceptions import (
    FlagNeedsArgument,
    InvalidFlagValue,
    KopsError,
    StateStoreRequired,
    UnknownCommand,
    UnknownFlag,
    UnknownShorthandFlag,
    ValidationFailed,
)
from sandbox.kops.utils import (
    GIT_VERSION,
    KOPS_VERSION,
    klog_line,
    parse_go_duration,
)

if TYPE_CHECKING:  # boto3 and cryptography load late: `kops version` must stay quick
    from sandbox.kops.models import ApplyResult, KopsBackend, ValidationResult

ARGV_LOG_ENV = "SANDBOX_KOPS_ARGV_LOG"
DEBUG_ENV = "SANDBOX_KOPS_DEBUG"
DEFAULT_ADMIN = "18h0m0s"
RESERVED_LABELS = ("Name", "KubernetesCluster")
RESERVED_LABEL_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/role/", "kops.k8s.io/")


# --- flags -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One pflag flag: its type, shorthand, optional value and deprecation."""

    name: str
    kind: str = "string"  # bool | string | int | duration | strings
    shorthand: str | None = None
    no_opt: str | None = None
    deprecated: str | None = None
    dest: str | None = None  # deprecated aliases write into their replacement

    @property
    def key(self) -> str:
        """Where the value is stored."""
        return self.dest or self.name


def _flags(*items: Flag) -> dict[str, Flag]:
    return {flag.name: flag for flag in items}


GLOBAL_FLAGS = _flags(
    Flag("state"),
    Flag("name"),
    Flag("config"),
    Flag("v", "int", shorthand="v"),
    Flag("help", "bool", shorthand="h"),
    Flag("logtostderr", "bool"),
    Flag("alsologtostderr", "bool"),
    Flag("stderrthreshold"),
    Flag("vmodule"),
    Flag("log_dir"),
    Flag("add_dir_header", "bool"),
    Flag("skip_headers", "bool"),
)


def _deprecated(name: str, dest: str, kind: str = "string", why: str | None = None) -> Flag:
    return Flag(name, kind, deprecated=why or f"use --{dest} instead", dest=dest)


# kops v1.36.2 cmd/kops/create_cluster.go; feature-flagged flags (config-base, discovery-service,
# add, azure-*, spotinst-*, api-server-count) are absent unless their flag is enabled: unknown.
CREATE_CLUSTER_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("target"),
    Flag("discovery-store"),
    Flag("cloud"),
    Flag("zones", "strings"),
    _deprecated("master-zones", "control-plane-zones", "strings"),
    Flag("control-plane-zones", "strings"),
    Flag("kubernetes-version"),
    Flag("kubernetes-feature-gates", "strings"),
    Flag("container-runtime", deprecated="containerd is the only supported value"),
    Flag("ssh-public-key"),
    _deprecated("master-count", "control-plane-count", "int"),
    Flag("control-plane-count", "int"),
    Flag("node-count", "int"),
    Flag("image"),
    Flag("node-image"),
    _deprecated("master-image", "control-plane-image"),
    Flag("control-plane-image"),
    Flag("bastion-image"),
    Flag("node-size", "strings"),
    _deprecated("master-size", "control-plane-size", "strings"),
    Flag("control-plane-size", "strings"),
    _deprecated("master-volume-size", "control-plane-volume-size", "int"),
    Flag("control-plane-volume-size", "int"),
    Flag("node-volume-size", "int"),
    Flag("node-volume-type"),
    Flag("control-plane-volume-type"),
    _deprecated("vpc", "network-id"),
    Flag("network-id"),
    Flag("subnets", "strings"),
    Flag("utility-subnets", "strings"),
    Flag("network-cidr", "strings"),
    Flag("disable-subnet-tags", "bool"),
    Flag("etcd-clusters", "strings"),
    Flag("encrypt-etcd-storage", "bool"),
    Flag("etcd-storage-type"),
    Flag("networking"),
    Flag("dns-zone"),
    Flag("out"),
    Flag("admin-access", "strings"),
    Flag("ssh-access", "strings"),
    Flag("associate-public-ip", "bool"),
    Flag("ipv6", "bool"),
    Flag("node-security-groups", "strings"),
    _deprecated("master-security-groups", "control-plane-security-groups", "strings"),
    Flag("control-plane-security-groups", "strings"),
    Flag("channel"),
    Flag("topology", shorthand="t"),
    Flag("authorization"),
    Flag("dns"),
    Flag("bastion", "bool"),
    Flag("cloud-labels"),
    _deprecated("master-tenancy", "control-plane-tenancy"),
    Flag("control-plane-tenancy"),
    Flag("node-tenancy"),
    Flag(
        "api-loadbalancer-class",
        deprecated="network load balancer should be used for all newly created clusters",
    ),
    Flag("api-loadbalancer-type"),
    Flag("api-ssl-certificate"),
    _deprecated("master-public-name", "api-public-name"),
    Flag("api-public-name"),
    Flag("dry-run", "bool"),
    Flag("output", shorthand="o"),
    _deprecated("override", "set", "strings"),
    Flag("set", "strings"),
    Flag("unset", "strings"),
    Flag("project"),
    Flag("gce-service-account"),
    Flag("os-ext-net"),
    Flag("os-ext-subnet"),
    Flag("os-lb-floating-subnet"),
    Flag("os-kubelet-ignore-az", "bool"),
    Flag("os-octavia", "bool"),
    Flag("os-octavia-provider"),
    Flag("os-dns-servers"),
    Flag("os-network"),
    Flag("instance-manager"),
)
UPDATE_CLUSTER_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("target"),
    Flag("ssh-public-key"),
    Flag("out"),
    Flag("create-kube-config", "bool"),
    Flag("admin", "duration", no_opt=DEFAULT_ADMIN),
    Flag("user"),
    Flag("internal", "bool"),
    Flag("allow-kops-downgrade", "bool"),
    Flag("lifecycle-overrides", "strings"),
    Flag("phase"),
    Flag("prune", "bool"),
    Flag("ignore-kubelet-version-skew", "bool"),
)
GET_FLAGS = _flags(Flag("output", shorthand="o"), Flag("full", "bool"))
VALIDATE_FLAGS = _flags(
    Flag("output", shorthand="o"),
    Flag("wait", "duration"),
    Flag("count", "int"),
    Flag("interval", "duration"),
    Flag("kubeconfig"),
    Flag("api-server"),
    Flag("use-kubeconfig", "bool"),
)
EXPORT_FLAGS = _flags(
    Flag("kubeconfig"),
    Flag("all", "bool"),
    Flag("admin", "duration", no_opt=DEFAULT_ADMIN),
    Flag("user"),
    Flag("internal", "bool"),
    Flag("auth-plugin", "bool"),
    Flag("api-server"),
)
DELETE_FLAGS = _flags(
    Flag("yes", "bool", shorthand="y"),
    Flag("unregister", "bool"),
    Flag("external", "bool"),
    Flag("region"),
    Flag("wait", "duration"),
    Flag("count", "int"),
    Flag("interval", "duration"),
)
VERSION_FLAGS = _flags(Flag("short", "bool"), Flag("server", "bool"))

COMMANDS: dict[str, dict[str, tuple[str, dict[str, Flag]]]] = {
    "create": {"cluster": ("create cluster", CREATE_CLUSTER_FLAGS)},
    "update": {"cluster": ("update cluster", UPDATE_CLUSTER_FLAGS)},
    "get": {
        "cluster": ("get clusters", GET_FLAGS),
        "clusters": ("get clusters", GET_FLAGS),
    },
    "validate": {"cluster": ("validate cluster", VALIDATE_FLAGS)},
    "export": {
        "kubeconfig": ("export kubeconfig", EXPORT_FLAGS),
        "kubecfg": ("export kubeconfig", EXPORT_FLAGS),
    },
    "delete": {"cluster": ("delete cluster", DELETE_FLAGS)},
}
USES = {
    "create cluster": "kops create cluster [CLUSTER] [flags]",
    "update cluster": "kops update cluster [CLUSTER] [flags]",
    "get clusters": "kops get clusters [CLUSTER]... [flags]",
    "validate cluster": "kops validate cluster [CLUSTER] [flags]",
    "export kubeconfig": "kops export kubeconfig [CLUSTER | --all] [flags]",
    "delete cluster": "kops delete cluster [CLUSTER] [flags]",
    "version": "kops version [flags]",
}


@dataclass
class Parsed:
    """The outcome of parsing one command line."""

    command: str
    values: dict[str, Any]
    changed: set[str]
    args: list[str]


def _parse_bool(text: str) -> bool | None:
    lowered = text.lower()
    if text in ("1", "t", "T", "true", "TRUE", "True") or lowered == "true":
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False") or lowered == "false":
        return False
    return None


def _convert(flag: Flag, shown: str, value: str) -> Any:
    if flag.kind == "bool":
        parsed = _parse_bool(value)
        if parsed is None:
            raise InvalidFlagValue(
                value, shown, f'strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        return parsed
    if flag.kind == "int":
        try:
            return int(value, 10)
        except ValueError:
            raise InvalidFlagValue(
                value, shown, f'strconv.ParseInt: parsing "{value}": invalid syntax'
            ) from None
    if flag.kind == "duration":
        try:
            return parse_go_duration(value)
        except ValueError as exc:
            raise InvalidFlagValue(value, shown, str(exc)) from None
    if flag.kind == "strings":
        if value == "":
            return []
        try:
            return next(csv.reader([value]))
        except (csv.Error, StopIteration):
            return value.split(",")
    return value


def _set(flag: Flag, shown: str, value: str, parsed: Parsed, deprecations: list[str]) -> None:
    converted = _convert(flag, shown, value)
    if flag.kind == "strings" and flag.key in parsed.changed:
        parsed.values[flag.key] = [*parsed.values[flag.key], *converted]
    else:
        parsed.values[flag.key] = converted
    parsed.changed.add(flag.key)
    if flag.deprecated:
        deprecations.append(f"Flag --{flag.name} has been deprecated, {flag.deprecated}")


def parse_flags(
    args: Sequence[str], flags: Mapping[str, Flag], parsed: Parsed, deprecations: list[str]
) -> None:
    """Parse ``args`` like pflag into ``parsed`` (values, changed, positional args)."""
    shorts = {flag.shorthand: flag for flag in flags.values() if flag.shorthand}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            parsed.args.extend(args[index + 1 :])
            return
        if arg.startswith("--") and len(arg) > 2:
            name, has_value, value = arg[2:].partition("=")
            flag = flags.get(name)
            if flag is None:
                raise UnknownFlag(f"--{name}")
            if not has_value:
                if flag.kind == "bool":
                    value = "true"
                elif flag.no_opt is not None:
                    value = flag.no_opt
                elif index + 1 < len(args):
                    index += 1
                    value = args[index]
                else:
                    raise FlagNeedsArgument(f"--{name}")
            _set(flag, f"--{name}", value, parsed, deprecations)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            position = 0
            while position < len(letters):
                letter = letters[position]
                flag = shorts.get(letter)
                if flag is None:
                    raise UnknownShorthandFlag(letter, arg)
                rest = letters[position + 1 :]
                if rest.startswith("="):
                    value, position = rest[1:], len(letters)
                elif flag.kind == "bool":
                    value, position = "true", position + 1
                elif rest:
                    value, position = rest, len(letters)
                elif flag.no_opt is not None:
                    value, position = flag.no_opt, len(letters)
                elif index + 1 < len(args):
                    index += 1
                    value, position = args[index], len(letters)
                else:
                    raise FlagNeedsArgument(f"'{letter}' in -{letter}")
                _set(flag, f"-{letter}", value, parsed, deprecations)
        else:
            parsed.args.append(arg)
        index += 1


def _command_words(argv: Sequence[str]) -> list[int]:
    """Return the positions of the words that look like commands (not flags or flag values)."""
    positions = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            name = arg.lstrip("-").partition("=")[0]
            flag = GLOBAL_FLAGS.get(name) or next(
                (f for f in GLOBAL_FLAGS.values() if f.shorthand == name), None
            )
            if (
                flag
                and flag.kind != "bool"
                and "=" not in arg
                and len(arg.lstrip("-")) == len(name)
            ):
                index += 1
        else:
            positions.append(index)
            if len(positions) == 2:
                break
        index += 1
    return positions


def parse_command_line(argv: Sequence[str], deprecations: list[str]) -> Parsed:
    """Find the command in ``argv`` and parse its flags (global ones included)."""
    words = _command_words(argv)
    if not words:
        return Parsed(command="", values={}, changed=set(), args=[])
    group = argv[words[0]]
    if group == "version":
        used, flags = [words[0]], VERSION_FLAGS
        command = "version"
    elif group in COMMANDS:
        if len(words) < 2:
            raise KopsError(
                f'"kops {group}" needs a subcommand; the twin emulates: '
                + ", ".join(sorted(COMMANDS[group]))
            )
        sub = argv[words[1]]
        if sub not in COMMANDS[group]:
            raise UnknownCommand(sub, f"kops {group}")
        command, flags = COMMANDS[group][sub]
        used = words[:2]
    else:
        raise UnknownCommand(group, "kops")
    rest = [arg for position, arg in enumerate(argv) if position not in used]
    parsed = Parsed(command=command, values={}, changed=set(), args=[])
    try:
        parse_flags(rest, {**GLOBAL_FLAGS, **flags}, parsed, deprecations)
    except KopsError as exc:
        exc.command = command
        raise
    return parsed


# --- output helpers ----------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return rows aligned the way kops's tabwriter does (tab padding, tab width 8)."""
    columns = len(headers)
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(columns)]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            if i == columns - 1:
                cells.append(text)
            else:
                cell_width = math.ceil((widths[i] + 1) / 8) * 8
                cells.append(text + "\t" * math.ceil((cell_width - len(text)) / 8))
        lines.append("".join(cells))
    return "\n".join(lines) + "\n"


def _to_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)


class _CsvError(ValueError):
    """A record Go's encoding/csv would refuse."""


def _label_fields(line: str) -> list[str]:
    """Split one record like Go's csv.Reader with Comma '=' and TrimLeadingSpace."""
    fields: list[str] = []
    index, size = 0, len(line)
    while True:
        while index < size and line[index].isspace():
            index += 1
        if index < size and line[index] == '"':
            index += 1
            parts = []
            while True:
                close = line.find('"', index)
                if close == -1:
                    raise _CsvError('extraneous or missing " in quoted-field')
                parts.append(line[index:close])
                index = close + 1
                if index < size and line[index] == '"':
                    parts.append('"')
                    index += 1
                    continue
                break
            if index < size and line[index] != "=":
                raise _CsvError('extraneous or missing " in quoted-field')
            fields.append("".join(parts))
        else:
            end = line.find("=", index)
            end = size if end == -1 else end
            if '"' in line[index:end]:
                raise _CsvError('bare " in non-quoted-field')
            fields.append(line[index:end])
            index = end
        if index >= size:
            return fields
        index += 1
        if index == size:
            fields.append("")
            return fields


def parse_cloud_labels(text: str) -> dict[str, str]:
    """Return ``--cloud-labels`` as kops reads it: commas split records, each a CSV ``k=v``."""
    records = text.replace(",", "\n")
    labels: dict[str, str] = {}
    for number, line in enumerate(records.split("\n"), start=1):
        if not line:
            continue
        try:
            fields = _label_fields(line)
            if len(fields) != 2:
                raise _CsvError("wrong number of fields")
        except _CsvError as exc:
            raise KopsError(
                "error parsing global cloud labels: one or more key=value pairs are malformed:\n"
                f"{records}\n:record on line {number}: {exc}"
            ) from exc
        labels[fields[0]] = fields[1]
    for key in labels:
        if key in RESERVED_LABELS:
            raise KopsError(
                f'spec.cloudLabels.{key}: Forbidden: "{key}" is a reserved label and cannot be '
                "used as a custom label"
            )
        for prefix in RESERVED_LABEL_PREFIXES:
            if key.startswith(prefix):
                raise KopsError(
                    f'spec.cloudLabels.{key}: Forbidden: "{prefix}" is a reserved label prefix '
                    "and cannot be used as a custom label"
                )
    return labels


# --- the program -------------------------------------------------------------------------------


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
        handlers: dict[str, Callable[[], int]] = {
            "create cluster": self.create_cluster,
            "update cluster": self.update_cluster,
            "get clusters": self.get_clusters,
            "validate cluster": self.validate_cluster,
            "export kubeconfig": self.export_kubeconfig,
            "delete cluster": self.delete_cluster,
            "version": self.version,
        }
        handler = handlers.get(self.parsed.command)
        if handler is None:
            self.out.write("kOps is Kubernetes Operations.\n\nUsage:\n  kops [command]\n")
            return 0
        return handler()

    def version(self) -> int:
        """``kops version [--short]``."""
        if self.value("short"):
            self.out.write(f"{KOPS_VERSION}\n")
        else:
            self.out.write(f"Client version: {KOPS_VERSION} (git-{GIT_VERSION})\n")
        return 0

    def create_cluster(self) -> int:
        """``kops create cluster``: write the spec; with ``--yes`` also apply it."""
        name = self.cluster_name(from_kubeconfig=False)
        if self.value("dry-run") and not self.value("output"):
            raise KopsError("unable to execute --dry-run without setting --output")
        backend = self.backend()
        if not self.value("dry-run") and backend.store.cluster(name) is not None:
            raise KopsError(
                f"cluster \"{name}\" already exists; use 'kops update cluster' to apply changes"
            )
        if self.value("bastion"):
            self.warn_twin("--bastion is accepted but the twin builds no bastion instance group")
        from sandbox.kops.models import CreateOptions, build_cluster

        options = CreateOptions(
            name=name,
            state_url=backend.store.url,
            zones=list(self.value("zones", [])),
            control_plane_zones=list(self.value("control-plane-zones", [])),
            control_plane_count=int(self.value("control-plane-count", 0)),
            control_plane_sizes=list(self.value("control-plane-size", [])),
            node_sizes=list(self.value("node-size", [])),
            node_count=int(self.value("node-count", 0)),
            node_volume_size=int(self.value("node-volume-size", 0)),
            control_plane_volume_size=int(self.value("control-plane-volume-size", 0)),
            kubernetes_version=str(self.value("kubernetes-version", "")),
            networking=str(self.value("networking", "cilium")),
            topology=str(self.value("topology", "")),
            dns=str(self.value("dns", "")),
            network_cidrs=list(self.value("network-cidr", [])),
            cloud_labels=parse_cloud_labels(str(self.value("cloud-labels", ""))),
            image=str(self.value("image", "")),
            node_image=str(self.value("node-image", "")),
            control_plane_image=str(self.value("control-plane-image", "")),
            api_load_balancer_type=str(self.value("api-loadbalancer-type", "")),
            cloud=str(self.value("cloud", "")),
            channel=str(self.value("channel", "")),
        )
        self.info("new_cluster.go:1474", 'Cloud Provider ID: "aws"')
        cluster, groups = build_cluster(options, default_cidr=backend.config.vpc_cidr)
        for subnet in cluster["spec"]["subnets"]:
            self.info(
                "subnets.go:224", f"Assigned CIDR {subnet['cidr']} to subnet {subnet['name']}"
            )
        if self.value("dry-run"):
            objects = [_without_creation_time(o) for o in (cluster, *groups)]
            if self.value("output") == "json":
                self.out.write("".join(_to_json(o) + "\n" for o in objects))
            elif self.value("output") == "yaml":
                self.out.write("\n---\n\n".join(_to_yaml(o) for o in objects))
            else:
                raise KopsError(f'unsupported output type "{self.value("output")}"')
            return 0
        backend.create_cluster(cluster, groups)
        if not self.value("yes"):
            self.out.write("Previewing changes that will be made:\n\n")
            self.out.write("Must specify --yes to apply changes\n")
            nodes = [g for g in groups if g["spec"]["role"] == "Node"]
            masters = [g for g in groups if g["spec"]["role"] == "Master"]
            self.out.write(
                "\nCluster configuration has been created.\n\nSuggestions:\n"
                " * list clusters with: kops get cluster\n"
                f" * edit this cluster with: kops edit cluster {name}\n"
                f" * edit your node instance group: kops edit ig --name={name} {nodes[0]['metadata']['name']}\n"
                f" * edit your control-plane instance group: kops edit ig --name={name} {masters[0]['metadata']['name']}\n"
                f"\nFinally configure your cluster with: kops update cluster --name {name} --yes --admin\n\n"
            )
            return 0
        self._apply(backend, name, first_run=True)
        self.write_kubeconfig(
            backend, name, admin=parse_go_duration(DEFAULT_ADMIN), user=None, internal=False
        )
        self._suggestions(name, first_run=True)
        return 0

    def _apply(self, backend: KopsBackend, name: str, *, first_run: bool) -> ApplyResult:
        self.info("executor.go:113", "Tasks: 0 done / 86 total; 46 can run")
        result = backend.update_cluster(name)
        for item in result.created:
            self.info("executor.go:155", f"Created {item}")
        for instance_id in result.launched:
            self.info("executor.go:155", f"Launched instance {instance_id}")
        for node in result.registered:
            self.info("kubelet.go:1", f"(twin) kubelet registered node {node}")
        for warning in result.warnings:
            self.warn_twin(warning)
        self.info("executor.go:113", "Tasks: 86 done / 86 total; 0 can run")
        self.info("update_cluster.go:419", "Exporting kubeconfig for cluster")
        return result

    def _suggestions(self, name: str, *, first_run: bool) -> None:
        if first_run:
            self.out.write("\nCluster is starting.  It should be ready in a few minutes.\n\n")
            self.out.write(
                "Suggestions:\n"
                " * validate cluster: kops validate cluster --wait 10m\n"
                " * list nodes: kubectl get nodes --show-labels\n"
                f" * ssh to a control-plane node: ssh -i ~/.ssh/id_rsa ubuntu@api.{name}\n"
                " * the ubuntu user is specific to Ubuntu. If not using Ubuntu please use the "
                "appropriate user based on your OS.\n"
                " * read about installing addons at: https://kops.sigs.k8s.io/addons.\n\n"
            )
        else:
            self.out.write("\nCluster changes have been applied to the cloud.\n\n")

    def update_cluster(self) -> int:
        """``kops update cluster [--yes] [--admin[=TTL]|--user U]``."""
        name = self.cluster_name(from_kubeconfig=True)
        admin = self.value("admin")
        user = self.value("user")
        if admin and user:
            raise KopsError("cannot use both --admin and --user")
        backend = self.backend()
        cluster = backend.cluster(name)
        if not self.value("yes"):
            state = backend.store.sandbox_state(name)
            if state.get("applied"):
                self.out.write("No changes need to be applied\n")
            else:
                self.out.write("Must specify --yes to apply changes\n")
            return 0
        path = kubeconfig_files.kubeconfig_path(self.env)
        first_run = not _has_context(path, cluster["metadata"]["name"])
        self._apply(backend, name, first_run=first_run)
        if admin or user or self.value("create-kube-config") or self.value("internal"):
            self.write_kubeconfig(
                backend, name, admin=admin, user=user, internal=bool(self.value("internal"))
            )
            if not admin and not user:
                self.warning(
                    "update_cluster.go:439",
                    "Exported kubeconfig with no user authentication; use --admin, --user or "
                    "--auth-plugin flags with `kops export kubeconfig`",
                )
        self._suggestions(name, first_run=first_run)
        return 0

    def get_clusters(self) -> int:
        """``kops get cluster(s) [NAME...] [-o table|json|yaml]``."""
        names = list(self.parsed.args)
        if self.value("name"):
            if names:
                raise KopsError("cannot mix --name for cluster with positional arguments")
            names = [str(self.value("name"))]
        output = str(self.value("output", "table"))
        if output not in ("table", "json", "yaml"):
            raise KopsError(f'unknown output format: "{output}"')
        clusters = self.backend().get_clusters(names)
        if self.value("full"):
            self.out.write(
                "\n//\n//   WARNING: Do not use a '--full' cluster specification to define a "
                "Kubernetes installation.\n//   You may experience unexpected behavior and other "
                "bugs.  Use only the required elements\n//   and any modifications that you "
                "require.\n//\n//   Use the following command to retrieve only the required "
                "elements:\n//   $ kops get cluster -o yaml\n//\n\n"
            )
        if output == "table":
            rows = []
            for cluster in clusters:
                zones = sorted(
                    {s["zone"] for s in cluster["spec"].get("subnets", []) if s.get("zone")}
                )
                rows.append(
                    [
                        cluster["metadata"]["name"],
                        cluster["spec"].get("cloudProvider", "aws"),
                        ",".join(zones),
                    ]
                )
            self.out.write(render_table(["NAME", "CLOUD", "ZONES"], rows))
        elif output == "yaml":
            self.out.write("\n---\n\n".join(_to_yaml(c) for c in clusters))
        elif len(names) == 1:
            self.out.write(_to_json(clusters[0]) + "\n")
        else:
            self.out.write("[" + ",".join(_to_json(c) + "\n" for c in clusters) + "]")
        return 0

    def validate_cluster(self) -> int:
        """``kops validate cluster``: one attempt, or attempts until ``--wait`` runs out."""
        name = self.cluster_name(from_kubeconfig=True)
        output = str(self.value("output", "table"))
        wait = float(self.value("wait", 0.0))
        count = int(self.value("count", 0))
        interval = float(self.value("interval", 10.0))
        try:
            backend = self.backend()
            cluster = backend.cluster(name)
            backend.require_ca(name)
        except KopsError as exc:
            raise ValidationFailed(exc.message) from exc
        if output == "table":
            self.out.write(f"Validating cluster {cluster['metadata']['name']}\n\n")
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
                    self.warning("validate_cluster.go:202", f"(will retry): {exc.message}")
                    self.sleep(interval)
                    continue
                raise ValidationFailed(exc.message) from exc
            self._write_validation(result, name, output)
            if not result.failures:
                consecutive += 1
                if consecutive < count:
                    self.info(
                        "validate_cluster.go:222",
                        f"(will retry): cluster passed validation {consecutive} consecutive times",
                    )
                    if wait > 0:
                        self.sleep(interval)
                        continue
                    raise ValidationFailed(
                        f"cluster passed validation {consecutive} consecutive times"
                    )
                return 0
            if wait > 0:
                self.warning("validate_cluster.go:232", "(will retry): cluster not yet healthy")
                consecutive = 0
                self.sleep(interval)
                continue
            raise ValidationFailed("cluster not yet healthy")

    def _write_validation(self, result: ValidationResult, name: str, output: str) -> None:
        from sandbox.kops.models import internal_role

        if output == "json":
            self.out.write(_to_json(result.as_json()))
        elif output == "yaml":
            self.out.write(_to_yaml(result.as_json()))
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
            self.out.write("INSTANCE GROUPS\n")
            self.out.write(
                render_table(["NAME", "ROLE", "MACHINETYPE", "MIN", "MAX", "SUBNETS"], rows)
            )
            self.out.write("\nNODE STATUS\n")
            self.out.write(
                render_table(
                    ["NAME", "ROLE", "READY"],
                    [[n["name"], n["role"], n["status"]] for n in result.nodes],
                )
            )
            if result.failures:
                self.out.write("\nVALIDATION ERRORS\n")
                self.out.write(
                    render_table(
                        ["KIND", "NAME", "MESSAGE"],
                        [[f["type"], f["name"], f["message"]] for f in result.failures],
                    )
                )
                self.out.write("\nValidation Failed\n")
            else:
                self.out.write(f"\nYour cluster {name} is ready\n")
        else:
            raise KopsError(f'unknown output format: "{output}"')
        self.out.flush()

    def export_kubeconfig(self) -> int:
        """``kops export kubeconfig NAME [--admin[=TTL]|--user U] [--kubeconfig PATH]``."""
        admin = self.value("admin")
        user = self.value("user")
        if admin and user:
            raise KopsError("cannot use both --admin and --user")
        backend = self.backend()
        if self.value("all"):
            if self.parsed.args:
                raise KopsError("cannot use both --all flag and positional arguments")
            names = backend.store.cluster_names()
        else:
            names = [self.cluster_name(from_kubeconfig=True)]
        for name in names:
            backend.cluster(name)
            self.write_kubeconfig(
                backend,
                name,
                admin=admin,
                user=user,
                internal=bool(self.value("internal")),
                path=self.value("kubeconfig"),
            )
        return 0

    def delete_cluster(self) -> int:
        """``kops delete cluster NAME [--yes]``: list (and with --yes delete) what kops made."""
        name = self.cluster_name(from_kubeconfig=False)
        if self.value("external"):
            raise KopsError("the twin does not emulate --external: it deletes clusters it knows")
        backend = self.backend()
        backend.cluster(name)
        resources = [] if self.value("unregister") else backend.cluster_resources(name)
        yes = bool(self.value("yes"))
        if not self.value("unregister"):
            self.info("delete_cluster.go:144", "Looking for cloud resources to delete")
            if not resources:
                self.out.write("No cloud resources to delete\n")
            else:
                rows = [[r.type, r.name, r.id] for r in resources]
                self.out.write(render_table(["TYPE", "NAME", "ID"], rows))
                if not yes:
                    self.out.write("\nMust specify --yes to delete cluster\n")
                    return 0
                self.out.write("\n")
        if not yes:
            self.out.write("\nMust specify --yes to unregister the cluster\n")
            return 0
        for line in backend.delete_cluster(name, resources):
            self.out.write(line + "\n")
            self.out.flush()
        path = kubeconfig_files.kubeconfig_path(self.env)
        if kubeconfig_files.delete_kubeconfig_context(path, name):
            self.out.write(f"Deleted kubectl config for {name}\n")
        self.out.write(f'\nDeleted cluster: "{name}"\n')
        return 0


def _without_creation_time(obj: dict[str, Any]) -> dict[str, Any]:
    """Return an object as a dry run prints it: not created, so no ``creationTimestamp``."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "creationTimestamp"}
    return {**obj, "metadata": metadata}


def _has_context(path: Path, name: str) -> bool:
    if not path.exists():
        return False
    config = yaml.safe_load(path.read_text()) or {}
    return any(c.get("name") == name for c in config.get("clusters") or [])


def _log_argv(argv: Sequence[str], env: Mapping[str, str]) -> None:
    target = env.get(ARGV_LOG_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(list(argv)) + "\n")


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run one kops command line; return its exit code (``Error: ...`` on stderr when not 0)."""
    args = list(sys.argv[1:] if argv is None else argv)
    environment = os.environ if env is None else env
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    _log_argv(args, environment)
    deprecations: list[str] = []
    command = ""
    try:
        parsed = parse_command_line(args, deprecations)
        command = parsed.command
        for line in deprecations:
            err.write(line + "\n")
        return Program(parsed, env=environment, stdout=out, stderr=err, sleep=sleep).run()
    except KopsError as exc:
        for line in deprecations:
            err.write(line + "\n")
        err.write(f"Error: {exc.message}\n")
        if exc.show_usage:
            usage = USES.get(exc.command or command, "kops [command]")
            err.write(f"Usage:\n  {usage}\n\n")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a kops run reports, it does not crash
        if environment.get(DEBUG_ENV):
            traceback.print_exc(file=err)
        err.write(f"Error: {type(exc).__name__}: {exc}\n")
        return 1
    finally:
        out.flush()
        err.flush()


__all__ = ["main", "parse_cloud_labels", "render_table"]
