"""Field checks shared by request structs; each returns a FieldError naming the JSON pointer."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache

from api.problems import FieldError
from core import decimal_bounds
from core.currencies import is_currency


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def currency(pointer: str, value: object) -> list[FieldError]:
    if isinstance(value, str) and not is_currency(value):
        return [FieldError(pointer=pointer, detail=f"{value!r} is not an ISO 4217 currency code")]
    return []


def timezone(pointer: str, value: object) -> list[FieldError]:
    if isinstance(value, str) and value not in _zones():
        return [FieldError(pointer=pointer, detail=f"{value!r} is not an IANA time zone")]
    return []


def date_order(pointer: str, start: date | None, end: date | None) -> list[FieldError]:
    if isinstance(start, date) and isinstance(end, date) and end < start:
        return [FieldError(pointer=pointer, detail="end date is before start date")]
    return []


def decimal_bounds_check(pointer: str, value: object, kind: decimal_bounds.Kind = "decimal") -> list[FieldError]:
    """Finite and within the kind's digits and places (core/decimal_bounds.py); every Decimal in a body."""
    reason = decimal_bounds.problem(value, kind) if isinstance(value, Decimal) else None
    return [FieldError(pointer=pointer, detail=reason)] if reason else []


def decimal_between(
    low: Decimal | None, high: Decimal | None, kind: decimal_bounds.Kind = "decimal"
) -> Callable[[str, object], list[FieldError]]:
    """msgspec cannot constrain Decimal, so ranges on money and fractions are checked here, after the
    number bounds of ``kind`` (finite, so many integer digits and decimal places)."""

    def check(pointer: str, value: object) -> list[FieldError]:
        if not isinstance(value, Decimal):
            return []
        bounded = decimal_bounds_check(pointer, value, kind)
        if bounded:
            return bounded
        if low is not None and value < low:
            return [FieldError(pointer=pointer, detail=f"must be >= {low}")]
        if high is not None and value > high:
            return [FieldError(pointer=pointer, detail=f"must be <= {high}")]
        return []

    return check


# ---- text PostgreSQL cannot store ---------------------------------------------------------------------------
# PostgreSQL text and jsonb hold neither U+0000 nor a lone UTF-16 surrogate (U+D800..U+DFFF, which JSON can
# escape and Python can hold but UTF-8 cannot encode). Left to the database, either fails the statement
# mid-transaction (a 500, or a workflow retrying forever); so every decoded body and every query, path and
# header parameter passes this one rule at the API edge instead.


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None if it can. ASCII without NUL (the common case) costs one scan."""
    if "\x00" in text:
        return "contains U+0000 (NUL), which cannot be stored"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (U+D800..U+DFFF), which is not valid Unicode text"
    return None


def unstorable_fields(value: object, pointer: str = "") -> list[FieldError]:
    """Every string (object keys included) in decoded JSON that :func:`unstorable` refuses, by JSON pointer."""
    if isinstance(value, str):
        reason = unstorable(value)
        return [FieldError(pointer=pointer or "/", detail=reason)] if reason else []
    errors: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            token = str(key)
            path = f"{pointer}/{token.replace('~', '~0').replace('/', '~1')}"
            reason = unstorable(token)
            if reason:
                errors.append(FieldError(pointer=path, detail=f"object key {reason}"))
            errors += unstorable_fields(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors += unstorable_fields(item, f"{pointer}/{index}")
    return errors


def unstorable_parameters(
    query: Iterable[tuple[str, str]], path: Mapping[str, object], headers: Iterable[tuple[str, str]]
) -> list[FieldError]:
    """Every query, path or header parameter (name or value) that :func:`unstorable` refuses. All of them,
    declared or not: a parameter nobody reads today may be stored tomorrow, and a client sending NUL in one
    has a bug worth naming."""
    errors: list[FieldError] = []
    for name, value in (*query, *headers):
        reason = unstorable(name) or unstorable(value)
        if reason:
            errors.append(FieldError(parameter=name, detail=reason))
    for name, item in path.items():
        reason = unstorable(item) if isinstance(item, str) else None
        if reason:
            errors.append(FieldError(parameter=name, detail=reason))
    return errors
