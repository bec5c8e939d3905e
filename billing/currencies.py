"""Currency helpers for rating, on top of the product's ISO 4217 table (``core.currencies``)."""

from __future__ import annotations

from decimal import Decimal

from core.currencies import MINOR_UNITS, minor_units
from core.currencies import is_currency as is_known_currency

__all__ = ["MINOR_UNITS", "is_known_currency", "minor_units", "quantum"]


def quantum(code: str) -> Decimal:
    """The smallest invoiceable amount (``Decimal('0.01')`` for USD, ``Decimal('1')`` for JPY)."""
    return Decimal(1).scaleb(-MINOR_UNITS[code])
