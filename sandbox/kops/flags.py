"""kops's command line as cobra/pflag parse it: the commands, their flags, and the parser.

Flags before or after the command, ``--flag value`` and ``--flag=value``, shorthands, optional
values such as ``--admin[=TTL]``, unknown flags rejected, deprecated ones accepted with cobra's
warning (kops v1.36.2 cmd/kops/*.go).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.kops.exceptions import (
    FlagNeedsArgument,
    InvalidFlagValue,
    KopsError,
    UnknownCommand,
    UnknownFlag,
    UnknownShorthandFlag,
)
from sandbox.kops.utils import parse_go_duration

DEFAULT_ADMIN = "18h0m0s"


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
        "instancegroups": ("get instancegroups", GET_FLAGS),
        "instancegroup": ("get instancegroups", GET_FLAGS),
        "ig": ("get instancegroups", GET_FLAGS),
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
    "get instancegroups": "kops get instancegroups [INSTANCE_GROUP]... [flags]",
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
