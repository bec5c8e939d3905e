"""Rounding rules: money to the currency's minor unit, hours to the hundredth, percentages to 0.01."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from core.currencies import minor_units

ZERO = Decimal(0)
SIXTY = Decimal(60)
HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit (ISO 4217 exponent), applied once to an exact sum."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def round_hours(hours: Decimal) -> Decimal:
    return hours.quantize(_CENT, rounding=ROUND_HALF_UP)


def hours_of(minutes: Decimal) -> Decimal:
    """Exact hours of a minute count (not rounded; round once for display)."""
    return minutes / SIXTY


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` as a percentage with two decimals; None when ``whole`` is zero (undefined)."""
    if whole == ZERO:
        return None
    return (part * HUNDRED / whole).quantize(_CENT, rounding=ROUND_HALF_UP)


def add_to(totals: dict[str, Decimal], currency: str | None, amount: Decimal | None) -> None:
    """Accumulate ``amount`` under ``currency`` (ignores missing amounts)."""
    if currency is None or amount is None:
        return
    totals[currency] = totals.get(currency, ZERO) + amount
