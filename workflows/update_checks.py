"""Input checks for workflow Updates and signals: refuse, before it enters history, what the database cannot store.

Why: an Update whose handler hands the database a value PostgreSQL refuses (U+0000 in a reason, a lone
surrogate, a reason longer than its column, a 400-digit amount) used to fail its activity on every retry,
forever, while the Update held the cycle's decision lock and the API waited with a transaction open. A
validator runs before the Update is accepted, so a refused input leaves no trace in the history and the
cycle stays exactly as it was.

These functions are pure and deterministic (no clock, no I/O, no state), as a validator must be; they
raise :class:`ApplicationError` of type :data:`INVALID_INPUT` whose details name each bad field with a
JSON pointer into the Update's argument, so the API can answer 422 naming the same field of its body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from temporalio.exceptions import ApplicationError

from core import decimal_bounds

INVALID_INPUT = "InvalidUpdateInput"
"""``ApplicationError.type`` of a refused input; details: ``{"errors": [{"pointer", "detail"}]}``."""

MAX_TEXT = 10_000
"""Characters in any text field without a narrower limit of its own."""

NO_LIMITS: Mapping[str, int] = {}


class FieldProblem(NamedTuple):
    pointer: str
    detail: str


def text_problem(value: str, max_length: int = MAX_TEXT) -> str | None:
    """Why PostgreSQL could not store ``value`` (or its column would refuse it), or None."""
    if "\x00" in value:
        return "contains U+0000 (NUL), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    return None


def text_problems(value: Any, path: str = "", limits: Mapping[str, int] = NO_LIMITS) -> list[FieldProblem]:
    """Every string inside ``value`` (Structs, lists, tuples, dict keys and values) that cannot be stored.

    ``limits`` maps a field name to its maximum length (the column's); other strings get :data:`MAX_TEXT`.
    """
    out: list[FieldProblem] = []
    _walk(value, path, MAX_TEXT, limits, out)
    return out


def _walk(value: Any, path: str, limit: int, limits: Mapping[str, int], out: list[FieldProblem]) -> None:
    if isinstance(value, str):
        problem = text_problem(value, limit)
        if problem is not None:
            out.append(FieldProblem(path or "/", problem))
    elif isinstance(value, msgspec.Struct):
        for field in msgspec.structs.fields(type(value)):
            name = field.encode_name
            _walk(getattr(value, field.name), f"{path}/{name}", limits.get(name, MAX_TEXT), limits, out)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, f"{path}/{i}", limit, limits, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, f"{path}/{key}", MAX_TEXT, limits, out)
            _walk(item, f"{path}/{key}", limits.get(str(key), MAX_TEXT), limits, out)


def decimal_problems(items: Iterable[tuple[str, Decimal | None, decimal_bounds.Kind]]) -> list[FieldProblem]:
    """``(pointer, value, kind)`` decimals outside their kind's bounds (finite, so many digits and places)."""
    return [FieldProblem(path, msg) for path, msg in decimal_bounds.check_all(items)]


def refuse(problems: Iterable[FieldProblem], what: str) -> None:
    """Raise the refusal the API turns into a 422 naming each field; return quietly when there is none."""
    found = list(problems)
    if not found:
        return
    summary = "; ".join(f"{p.pointer}: {p.detail}" for p in found)
    raise ApplicationError(
        f"invalid {what}: {summary}",
        {"errors": [{"pointer": p.pointer, "detail": p.detail} for p in found]},
        type=INVALID_INPUT,
        non_retryable=True,
    )
