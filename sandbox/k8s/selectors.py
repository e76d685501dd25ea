"""Label and field selectors: parsing the query strings and matching objects against them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.k8s.exceptions import KubeApiError, bad_request

_SPECIALS = " \t,()=!<>"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector, e.g. ``tier in (a,b)``."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this clause."""
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "gt" | "lt":
                if not present or value is None:
                    return False
                try:
                    number = int(value)
                except ValueError:
                    return False
                limit = int(self.values[0])
                return number > limit if self.operator == "gt" else number < limit
        raise AssertionError(self.operator)


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector``: all requirements must hold."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a label set satisfies every requirement."""
        return all(requirement.matches(labels or {}) for requirement in self.requirements)


def _tokens(text: str) -> Iterator[str]:
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t":
            index += 1
        elif text.startswith(("==", "!="), index):
            yield text[index : index + 2]
            index += 2
        elif char in ",()=!<>":
            yield char
            index += 1
        else:
            end = index
            while end < len(text) and text[end] not in _SPECIALS:
                end += 1
            yield text[index:end]
            index = end


def _is_identifier(token: str | None) -> bool:
    return token is not None and token[0] not in _SPECIALS


def _check_key(key: str, selector: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (
        not name
        or len(name) > 63
        or not _LABEL_NAME.match(name)
        or (prefix and not _DNS_SUBDOMAIN.match(prefix))
    ):
        raise bad_request(
            f"unable to parse requirement: invalid label key {key!r} in selector {selector!r}"
        )


def _check_value(value: str, selector: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request(
            f"unable to parse requirement: invalid label value {value!r} in selector {selector!r}"
        )


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``app=nginx,tier in (a,b),!canary`` and friends; BadRequest when malformed."""
    if not text or not text.strip():
        return LabelSelector()
    tokens = list(_tokens(text))
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str | None:
        nonlocal position
        token = peek()
        position += 1
        return token

    def fail(why: str) -> KubeApiError:
        return bad_request(f"unable to parse requirement: {why} in selector {text!r}")

    requirements: list[Requirement] = []
    while True:
        token = take()
        if token == "!":
            key = take()
            if not _is_identifier(key):
                raise fail("expected a label key after '!'")
            assert key is not None
            _check_key(key, text)
            requirements.append(Requirement(key, "!"))
        elif _is_identifier(token):
            assert token is not None
            key = token
            _check_key(key, text)
            operator = peek()
            if operator is None or operator == ",":
                requirements.append(Requirement(key, "exists"))
            elif operator in ("=", "==", "!="):
                take()
                value = take() if _is_identifier(peek()) else ""
                assert value is not None
                _check_value(value, text)
                requirements.append(Requirement(key, "!=" if operator == "!=" else "=", (value,)))
            elif operator in ("in", "notin"):
                take()
                if take() != "(":
                    raise fail(f"expected '(' after {operator!r}")
                values: list[str] = []
                while True:
                    item = take() if _is_identifier(peek()) else ""
                    assert item is not None
                    _check_value(item, text)
                    values.append(item)
                    separator = take()
                    if separator == ")":
                        break
                    if separator != ",":
                        raise fail("expected ',' or ')' in a value set")
                requirements.append(Requirement(key, operator, tuple(values)))
            elif operator in (">", "<"):
                take()
                value = take()
                if value is None or not re.fullmatch(r"-?\d+", value):
                    raise fail(f"expected an integer after {operator!r}")
                requirements.append(Requirement(key, "gt" if operator == ">" else "lt", (value,)))
            else:
                raise fail(f"unexpected {operator!r} after key {key!r}")
        else:
            raise fail(f"expected a label key, found {token!r}")
        separator = take()
        if separator is None:
            return LabelSelector(tuple(requirements))
        if separator != ",":
            raise fail(f"expected ',' but found {separator!r}")


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector, e.g. ``spec.nodeName=node-1``."""

    path: str
    equal: bool
    value: str


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``: all clauses must hold."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether an object's fields satisfy every clause."""
        for requirement in self.requirements:
            actual = field_value(obj, requirement.path)
            if (actual == requirement.value) != requirement.equal:
                return False
        return True


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """Return a field as field selectors see it: strings as is, booleans lower-case, "" if unset."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None, supported: frozenset[str]) -> FieldSelector:
    """Parse ``spec.nodeName=n1,status.phase!=Failed``; BadRequest for unknown fields."""
    if not text or not text.strip():
        return FieldSelector()
    requirements: list[FieldRequirement] = []
    for clause in _split_unescaped(text, ","):
        clause = clause.strip()
        if not clause:
            continue
        match = re.match(r"^([^=!]+?)\s*(==|!=|=)\s*(.*)$", clause)
        if match is None:
            raise bad_request(f"invalid selector: {text!r}; can't understand {clause!r}")
        path, operator, value = match.groups()
        if path not in supported:
            known = ", ".join(f'"{label}"' for label in sorted(supported))
            raise bad_request(f'"{path}" is not a known field selector: only {known}')
        requirements.append(FieldRequirement(path, operator != "!=", _unescape(value)))
    return FieldSelector(tuple(requirements))
