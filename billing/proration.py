"""Proration of fixed amounts by days in the client's time zone.

A partial period (contract starts on the 11th, terminates on the 20th) is charged for its *calendar
days* over the days of that month: the denominator is 28, 29, 30 or 31, never a fixed 30, and DST never
enters into it because days are counted on the client's local calendar.

Rounding uses cumulative (telescoping) differences: days ``a..b`` of a month of ``D`` days cost
``R(A*b/D) - R(A*(a-1)/D)`` where ``R`` rounds to the minor unit. Each part is still one rounding
expression, but any split of a month into parts (start mid-month then full months, or an advance
billed in full and partially credited on termination) adds up to exactly the full amount, which naive
per-part rounding does not guarantee (1234.55 split 15/15 days would bill 1234.56).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.money import divide
from billing.periods import Period


def cumulative(amount_minor: int, day: int, days: int, rounding: str) -> int:
    """Rounded amount for the first ``day`` days of a ``days``-day month."""
    if day <= 0:
        return 0
    if day >= days:
        return amount_minor
    return int(divide(Decimal(amount_minor * day), days).to_integral_value(rounding=rounding))


def prorate(amount_minor: int, first_day: int, last_day: int, days: int, rounding: str) -> int:
    """Amount for local days ``first_day..last_day`` (inclusive) of a month with ``days`` days."""
    return cumulative(amount_minor, last_day, days, rounding) - cumulative(amount_minor, first_day - 1, days, rounding)


def active_days(period: Period, start: date, end: date | None) -> tuple[int, int] | None:
    """Days of the period inside the contract (``end`` is the last day of service, inclusive)."""
    first = max(period.first_day, start)
    last = period.last_day if end is None else min(period.last_day, end)
    if first > last:
        return None
    return first.day, last.day
