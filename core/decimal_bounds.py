"""Bounds for every decimal a user can hand us: one table, one check, one message naming the field.

Why: money is computed in a fixed 60-significant-digit context (billing/money.py). A number outside the
bounds below either cannot be represented in it (``1e400``), would be rounded off silently (a quantity of
``10^66 + 1``), or is not a number at all (``NaN``, ``Infinity``). Such a value is refused where it enters
— contract files, API bodies, CSV and CloudEvents imports, time entries — with a message naming the
field, so rating never meets it. The limits are chosen so that every product the engine forms (quantity
x unit price, provider cost x fx rate x margin factor, minutes x hourly rate) stays exact within 60
digits; docs/billing.md "Number bounds" lists them.

A kind bounds the integer digits and the decimal places; trailing zeros do not count as places
(``100.000000000000`` is an exact 100) and exponent notation is read by value (``1E+3`` is 1000).
Signs are the callers' business (a negative adjustment is legal, a negative price is not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Kind = Literal["amount", "rate", "quantity", "minutes", "hours", "percent", "decimal"]


@dataclass(frozen=True, slots=True)
class Bound:
    what: str
    integer_digits: int
    scale: int


BOUNDS: dict[str, Bound] = {
    # fixed money: fees, minimums, caps, fixed discounts, credits, milestones, budgets, adjustments
    "amount": Bound("an amount", 15, 4),
    # prices per unit or per hour, fx rates, surcharges: any reasonable number of decimals
    "rate": Bound("a rate", 12, 10),
    # usage quantities, included units, tier bounds, package sizes, provider costs
    "quantity": Bound("a quantity", 15, 9),
    # time entry durations
    "minutes": Bound("a number of minutes", 7, 4),
    # allowances and rollover caps in hours, budget hours
    "hours": Bound("a number of hours", 7, 4),
    # percentages written as percent (20 = 20 %): tax, discounts, retention, margins
    "percent": Bound("a percentage", 4, 6),
    # anything else decimal that has no more specific kind
    "decimal": Bound("a decimal number", 15, 10),
}


def digits(value: Decimal) -> tuple[int, int]:
    """(integer digits, decimal places) of a finite value, ignoring trailing zeros; no context used."""
    _sign, coeff, exp = value.as_tuple()
    assert isinstance(exp, int)
    n = len(coeff)
    while n > 1 and coeff[n - 1] == 0:
        n -= 1
        exp += 1
    if n == 1 and coeff[0] == 0:
        return 0, 0
    return max(0, n + exp), max(0, -exp)


def problem(value: object, kind: Kind) -> str | None:
    """Why ``value`` is not an acceptable decimal of this kind, or None when it is."""
    bound = BOUNDS[kind]
    if not isinstance(value, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return f"must be a decimal number, got {value!r}"
        try:
            value = Decimal(value)
        except ArithmeticError:
            return f"must be a decimal number, got {value!r}"
    if not value.is_finite():
        return f"must be a finite decimal number, got {value}"
    exp = value.as_tuple().exponent
    assert isinstance(exp, int)
    if -bound.scale <= exp and (not value or value.adjusted() < bound.integer_digits):
        return None  # the common case, without counting digits
    whole, places = digits(value)
    if whole > bound.integer_digits:
        return (
            f"is too large: {whole} integer digits, at most {bound.integer_digits} allowed for {bound.what} "
            f"(below 10^{bound.integer_digits})"
        )
    if places > bound.scale:
        return f"has {places} decimal places, at most {bound.scale} allowed for {bound.what}"
    return None


class OutOfBounds(ValueError):
    """Decimals refused by the bounds, each with the path of its field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path or '/'}: {msg}" for path, msg in problems))


def check_all(items: Iterable[tuple[str, object, Kind]]) -> list[tuple[str, str]]:
    """Every (path, message) among ``(path, value, kind)`` triples; ``None`` values are skipped."""
    out = []
    for path, value, kind in items:
        if value is None:
            continue
        msg = problem(value, kind)
        if msg is not None:
            out.append((path, msg))
    return out


def require(value: Decimal, kind: Kind, field: str) -> Decimal:
    """Return ``value`` when it is within bounds; raise OutOfBounds naming ``field`` otherwise."""
    msg = problem(value, kind)
    if msg is not None:
        raise OutOfBounds([(field, msg)])
    return value


def parse(text: str, kind: Kind, field: str) -> Decimal:
    """Read a decimal from text (imports): exact, finite and within bounds, or OutOfBounds naming ``field``."""
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise OutOfBounds([(field, f"must be a decimal number, got {text!r}")]) from None
    return require(value, kind, field)
