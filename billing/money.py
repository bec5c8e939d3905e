"""Rounding and exact allocation of money.

Design: every invoice line is rounded exactly once, at the step documented in docs/billing.md, from an
exact Decimal computed in a 60-digit context. After that the engine works in integer minor units, so
subtotals, allocations and totals are exact sums and can never drift by a cent.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Literal

from billing.currencies import minor_units

RoundingName = Literal["half_up", "half_even"]

ROUNDING_MODES: dict[str, str] = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}

# All engine arithmetic runs in this context: 60 significant digits hold every product of bounded inputs
# (core/decimal_bounds.py), and the context *traps* Inexact, so a sum or product that would lose a digit
# raises instead of being rounded off silently (rate() turns that into a RatingError). Invalid operations
# raise instead of producing NaN. Only the documented rounding steps lose digits on purpose: they run in
# QUOTIENT_CONTEXT through ``divide`` / ``quantize`` below.
_TRAPS = [InvalidOperation, DivisionByZero, Overflow]
BILLING_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999, traps=[*_TRAPS, Inexact])
# Quotients that are rounded once right after (minutes / 60, proration by days, packages, increments).
QUOTIENT_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999, traps=_TRAPS)


def divide(a: Decimal | int, b: Decimal | int) -> Decimal:
    """``a / b`` to 60 digits, allowed to be inexact: the caller rounds the quotient at a documented step."""
    return QUOTIENT_CONTEXT.divide(a, b)


def quantize(value: Decimal, exp: Decimal, rounding: str) -> Decimal:
    """A documented rounding step (``value`` rounded to ``exp``), exempt from the Inexact trap."""
    return value.quantize(exp, rounding=rounding, context=QUOTIENT_CONTEXT)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


def to_minor(amount: Decimal, minor: int, rounding: str) -> int:
    """Round an exact amount to an integer count of minor units (the single rounding step)."""
    return int(amount.scaleb(minor).to_integral_value(rounding=rounding))


def from_minor(units: int, minor: int) -> Decimal:
    """Integer minor units back to a Decimal with exactly ``minor`` decimals (``0`` -> ``0.00``)."""
    return Decimal(units).scaleb(-minor)


def round_money(amount: Decimal, currency: str, rounding: RoundingName = "half_up") -> Decimal:
    """Round an amount to the currency's minor unit with the named rounding mode."""
    m = minor_units(currency)
    return from_minor(to_minor(amount, m, ROUNDING_MODES[rounding]), m)


def is_representable(amount: Decimal, minor: int) -> bool:
    """True when the amount has no digits below the currency's minor unit (e.g. JPY 1000.5 is not)."""
    return amount.scaleb(minor) == amount.scaleb(minor).to_integral_value()


def exact_minor(amount: Decimal, minor: int) -> int:
    """Convert an amount that validation guarantees is representable, without rounding."""
    return int(amount.scaleb(minor))


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` minor units across weights so the parts sum exactly to ``total``.

    Largest-remainder method: each part gets the floor of its proportional share and the leftover
    units go to the largest remainders, earlier positions first on ties. Deterministic, exact, and
    never moves more than one minor unit away from the proportional share. Zero total weight puts
    everything on the first position (callers avoid that case when it matters).
    """
    n = len(weights)
    if n == 0:
        if total:
            raise ValueError("cannot allocate a non-zero amount over nothing")
        return []
    wsum = sum(weights)
    if wsum == 0:
        return [total] + [0] * (n - 1)
    sign = -1 if total < 0 else 1
    t = total * sign
    parts = []
    rems = []
    assigned = 0
    for i, w in enumerate(weights):
        q, r = divmod(t * w, wsum)
        parts.append(q)
        rems.append((-r, i))
        assigned += q
    left = t - assigned
    if left:
        rems.sort()
        for _, i in rems[:left]:
            parts[i] += 1
    if sign < 0:
        return [-p for p in parts]
    return parts


def ceil_div(a: Decimal, b: Decimal) -> Decimal:
    """Ceiling of a / b as an integral Decimal (packages, increments)."""
    return divide(a, b).to_integral_value(rounding=ROUND_CEILING)


def floor_div(a: Decimal, b: Decimal) -> Decimal:
    return divide(a, b).to_integral_value(rounding=ROUND_FLOOR)
