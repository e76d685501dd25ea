"""Evaluates IAM identity policies the way ``iam:SimulatePrincipalPolicy`` does, enough for the twin.

moto 5.2.5 has no policy simulator, and the project checks a role's permissions with one (the
2018 procedure's manual policy step became a check). This is the evaluation only, over plain
policy documents, so it is tested with tables and knows nothing of moto.

Rules followed (IAM "policy evaluation logic"): an explicit Deny in any matching statement wins,
else any matching Allow allows, else the request is implicitly denied. A statement matches when
its ``Action``/``NotAction`` matches the action (case-insensitive, ``*`` and ``?`` wildcards), its
``Resource``/``NotResource`` matches the resource (case-sensitive wildcards; the simulator's
default resource is the literal ``*``), and its ``Condition`` holds for the context entries.
A condition key that the context does not supply makes the condition false (true for the negated
operators and for ``...IfExists``) and is reported as missing, as the simulator does.

Not modelled: permissions boundaries, SCPs, resource policies, policy variables
(``${aws:username}``), numeric/date/IP operators (a statement using one never matches).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

Decision = Literal["allowed", "implicitDeny", "explicitDeny"]


@dataclass(frozen=True)
class SourcePolicy:
    """One policy taking part in the simulation."""

    policy_id: str
    """Inline policy name, managed policy name, or ``PolicyInputList.N``."""
    policy_type: str
    """``role``, ``aws-managed``, ``user-managed`` or ``none`` (botocore's PolicySourceType)."""
    document: Mapping[str, Any]


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that decided the result."""

    policy_id: str
    policy_type: str


@dataclass(frozen=True)
class Evaluation:
    """The decision for one action on one resource."""

    action: str
    resource: str
    decision: Decision
    matched: tuple[MatchedStatement, ...] = ()
    missing_context: tuple[str, ...] = field(default=())


def parse_document(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a policy document as a mapping (IAM stores them as JSON text)."""
    if isinstance(document, str):
        parsed = json.loads(document)
        if not isinstance(parsed, dict):
            raise TypeError("a policy document must be a JSON object")
        return parsed
    return document


def evaluate(
    *,
    policies: Sequence[SourcePolicy],
    actions: Iterable[str],
    resources: Iterable[str] = ("*",),
    context: Mapping[str, Sequence[str]] | None = None,
) -> list[Evaluation]:
    """Return one evaluation per (action, resource), actions outermost."""
    ctx = {key.lower(): list(values) for key, values in (context or {}).items()}
    resource_list = list(resources) or ["*"]
    return [
        _evaluate_one(policies, action, resource, ctx)
        for action in actions
        for resource in resource_list
    ]


def _evaluate_one(
    policies: Sequence[SourcePolicy],
    action: str,
    resource: str,
    context: Mapping[str, Sequence[str]],
) -> Evaluation:
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    missing: set[str] = set()
    for policy in policies:
        for statement in _statements(policy.document):
            if not _targets(statement, action, resource):
                continue
            holds, absent = _condition_holds(statement.get("Condition") or {}, context)
            missing.update(absent)
            if not holds:
                continue
            matched = MatchedStatement(policy.policy_id, policy.policy_type)
            if str(statement.get("Effect", "")).lower() == "deny":
                denies.append(matched)
            elif str(statement.get("Effect", "")).lower() == "allow":
                allows.append(matched)
    if denies:
        return Evaluation(action, resource, "explicitDeny", tuple(denies), tuple(sorted(missing)))
    if allows:
        return Evaluation(action, resource, "allowed", tuple(allows), tuple(sorted(missing)))
    return Evaluation(action, resource, "implicitDeny", (), tuple(sorted(missing)))


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        return [statements]
    return [s for s in statements if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _targets(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """Tell whether the statement's action and resource elements cover the request."""
    if "Action" in statement:
        action_ok = any(
            wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["Action"])
        )
    elif "NotAction" in statement:
        action_ok = not any(
            wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"])
        )
    else:
        return False
    if not action_ok:
        return False
    if "Resource" in statement:
        return any(wildcard_match(p, resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _as_list(statement["NotResource"]))
    return False


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Tell whether ``value`` matches an IAM pattern (``*`` any run, ``?`` one character)."""
    return _compile(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


_STRING_OPERATORS = {
    "stringequals": (False, False, False),  # (negated, like, ignore_case)
    "stringnotequals": (True, False, False),
    "stringequalsignorecase": (False, False, True),
    "stringnotequalsignorecase": (True, False, True),
    "stringlike": (False, True, False),
    "stringnotlike": (True, True, False),
    "arnequals": (False, True, False),
    "arnlike": (False, True, False),
    "arnnotequals": (True, True, False),
    "arnnotlike": (True, True, False),
}


def _condition_holds(
    condition: Mapping[str, Any], context: Mapping[str, Sequence[str]]
) -> tuple[bool, set[str]]:
    """Return whether every condition block holds, and the keys the context lacked."""
    missing: set[str] = set()
    holds = True
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            return False, missing
        for key, expected in block.items():
            ok, absent = _one_condition(operator, key, _as_list(expected), context)
            if absent:
                missing.add(key)
            holds = holds and ok
    return holds, missing


def _one_condition(
    operator: str, key: str, expected: list[str], context: Mapping[str, Sequence[str]]
) -> tuple[bool, bool]:
    """Return (holds, key was absent from the context) for one key of one operator."""
    op = operator.lower()
    for prefix in ("forallvalues:", "foranyvalue:"):
        op = op.removeprefix(prefix)
    values = context.get(key.lower())
    if op == "null":
        wants_absent = [v.lower() for v in expected] == ["true"]
        return (values is None) == wants_absent, False
    if_exists = op.endswith("ifexists")
    op = op.removesuffix("ifexists")
    if values is None:
        if if_exists:
            return True, False
        negated = _STRING_OPERATORS.get(op, (False, False, False))[0]
        return negated, True
    if op == "bool":
        return any(v.lower() == e.lower() for v in values for e in expected), False
    if op not in _STRING_OPERATORS:
        return False, False
    negated, like, ignore_case = _STRING_OPERATORS[op]
    if like:
        hit = any(wildcard_match(e, v, ignore_case=ignore_case) for v in values for e in expected)
    elif ignore_case:
        hit = any(v.lower() == e.lower() for v in values for e in expected)
    else:
        hit = any(v == e for v in values for e in expected)
    return (not hit) if negated else hit, False
