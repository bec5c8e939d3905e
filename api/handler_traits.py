"""What a route handler does with the HTTP conventions, read from its own code.

The OpenAPI document must say which operations take ``If-Match``, answer 304, send an ``ETag`` or a
``Location``, or honour ``Idempotency-Key``. Declaring that by hand beside each handler drifts the day
someone changes a handler and forgets the declaration (that is how the document came to disagree with the
server). So the document is derived from what the handler *calls*: the functions it names, followed through
every function of ours it names in turn (nested closures included), are matched against the few functions
that implement each convention. Over-approximation (a helper that only sometimes checks If-Match) documents
a header the server accepts, which is harmless; missing one is what the tests guard against.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from api import etags, idempotency

_OURS = ("api.",)


@dataclass(frozen=True, slots=True)
class HandlerTraits:
    if_match: bool = False
    """412 on a stale ``If-Match`` (``api.etags.check_if_match``)."""
    if_none_match: bool = False
    """304 on a matching ``If-None-Match`` (``api.etags.not_modified``)."""
    etag: bool = False
    """The success response carries ``ETag`` (``api.etags.etag_for``)."""
    location: bool = False
    """The success response carries ``Location`` (a literal ``"Location"`` header in its code)."""
    idempotent: bool = False
    """``Idempotency-Key`` is honoured (``api.idempotency.idempotent_create``)."""


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _strings(consts: tuple[Any, ...]) -> Iterator[str]:
    """String constants, also inside tuples (a dict display keeps its keys as one tuple constant)."""
    for const in consts:
        if isinstance(const, str):
            yield const
        elif isinstance(const, tuple):
            yield from _strings(const)


def _reachable(fn: Callable[..., Any]) -> tuple[set[Callable[..., Any]], set[str]]:
    """Every function of ours ``fn`` can call (by global name, transitively), and every string constant."""
    seen: set[Callable[..., Any]] = set()
    strings: set[str] = set()
    stack: list[Callable[..., Any]] = [fn]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in _LEAVES:
            continue  # check_if_match names etag_for in its 412; that puts no ETag on a success
        code = getattr(current, "__code__", None)
        if code is None:
            continue
        namespace: dict[str, Any] = getattr(current, "__globals__", {})
        for block in _code_objects(code):
            strings.update(_strings(block.co_consts))
            for name in block.co_names:
                target = namespace.get(name)
                if isinstance(target, types.ModuleType) and target.__name__.startswith(_OURS):
                    # ``module.function``: the attribute name follows in co_names too.
                    for attribute in block.co_names:
                        candidate = getattr(target, attribute, None)
                        if isinstance(candidate, types.FunctionType):
                            stack.append(candidate)
                elif isinstance(target, types.FunctionType) and target.__module__.startswith(_OURS):
                    stack.append(target)
    return seen, strings


_LEAVES: frozenset[Callable[..., Any]] = frozenset(
    {etags.check_if_match, etags.not_modified, etags.etag_for, idempotency.idempotent_create}
)


def traits_of(fn: Callable[..., Any]) -> HandlerTraits:
    functions, strings = _reachable(fn)
    return HandlerTraits(
        if_match=etags.check_if_match in functions,
        if_none_match=etags.not_modified in functions,
        etag=etags.etag_for in functions,
        location="Location" in strings,
        idempotent=idempotency.idempotent_create in functions,
    )
