"""Locale-aware numbers, money and dates for documents (Babel).

Amounts are formatted from the stored decimal as is: ``decimal_quantization=False`` never rounds away digits
the stored value has, and the currency's exponent (JPY 0, KWD 3, from CLDR) sets the minimum digits shown.
Nothing here adds, multiplies or rounds money.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal


def locale_of(tag: str) -> Locale:
    """``en_US``, ``de-DE`` and ``ja`` all work; an unknown tag is a ValueError, not a crash mid-render."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise ValueError(f"unknown locale {tag!r}") from exc


def money(amount: Decimal, currency: str, locale: Locale) -> str:
    return format_currency(amount, currency, locale=locale, currency_digits=True, decimal_quantization=False)


def number(value: Decimal, locale: Locale) -> str:
    return format_decimal(value, locale=locale, decimal_quantization=False)


def long_date(value: date, locale: Locale) -> str:
    return format_date(value, format="long", locale=locale)


def percent(value: Decimal, locale: Locale) -> str:
    """Tax rates are stored as percent numbers (``10`` means 10 %)."""
    return f"{number(value, locale)} %"
