"""Field checks shared by request structs; each returns a FieldError naming the JSON pointer."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import lru_cache

from api.problems import FieldError
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


def decimal_between(low: Decimal | None, high: Decimal | None) -> Callable[[str, object], list[FieldError]]:
    """msgspec cannot constrain Decimal, so ranges on money and fractions are checked here."""

    def check(pointer: str, value: object) -> list[FieldError]:
        if not isinstance(value, Decimal):
            return []
        if not value.is_finite():
            return [FieldError(pointer=pointer, detail="must be a finite number")]
        if low is not None and value < low:
            return [FieldError(pointer=pointer, detail=f"must be >= {low}")]
        if high is not None and value > high:
            return [FieldError(pointer=pointer, detail=f"must be <= {high}")]
        return []

    return check
