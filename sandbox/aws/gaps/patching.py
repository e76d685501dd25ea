"""How the twin patches moto: wrap or add one method, keep twin state on a moto backend.

Every helper fails loudly when moto's shape changes, so a moto bump cannot silently unpatch a gap.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import moto
from moto.ec2.models import ec2_backends

EXPECTED_MOTO_VERSION = "5.2.5"
if moto.__version__ != EXPECTED_MOTO_VERSION:  # pragma: no cover - guards a dependency bump
    raise RuntimeError(
        f"sandbox.aws.gaps patches moto {EXPECTED_MOTO_VERSION}, found {moto.__version__}: "
        "re-check every gap listed in sandbox/aws/gaps/ against the new version"
    )

_T = TypeVar("_T")
_state_lock = threading.Lock()


def wrap(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``cls.name`` by ``make(original)``; the method must be defined on ``cls`` itself."""
    original = cls.__dict__.get(name)
    if original is None:
        raise RuntimeError(f"moto changed: {cls.__name__}.{name} is gone")
    replacement = make(original)
    functools.update_wrapper(replacement, original)
    setattr(cls, name, replacement)


def add_method(cls: type, name: str, fn: Callable[..., Any]) -> None:
    """Add a method moto lacks; fails if moto grew one (then re-check the gap)."""
    if hasattr(cls, name):
        raise RuntimeError(f"moto changed: {cls.__name__}.{name} now exists")
    setattr(cls, name, fn)


def call_arguments(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Return the call's arguments by parameter name, defaults and ``**kwargs`` included."""
    signature = inspect.signature(fn)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
    return arguments


_STATE_ATTR = "_kops_twin_state"


def twin_state(backend: object, factory: Callable[[], _T]) -> _T:
    """Return the twin's state kept on a moto backend (so moto's reset wipes it too)."""
    attrs = backend.__dict__
    with _state_lock:
        found = attrs.get(_STATE_ATTR)
        if found is None:
            found = attrs[_STATE_ATTR] = factory()
    return cast(_T, found)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def ec2_backend(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]
