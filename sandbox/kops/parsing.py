"""Reading a kops command line the way cobra/pflag do, against the tables in ``flags``.

Flags before or after the command, ``--flag value`` and ``--flag=value``, shorthands, optional
values such as ``--admin[=TTL]``, unknown flags rejected, deprecated ones accepted with cobra's
warning.
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
from sandbox.kops.flags import COMMANDS, GLOBAL_FLAGS, VERSION_FLAGS, Flag
from sandbox.kops.utils import parse_go_duration


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
