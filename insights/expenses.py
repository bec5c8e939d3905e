"""What a re-billed expense costs the client: amount × (1 + markup), rounded once to the minor unit."""

from __future__ import annotations

from decimal import Decimal

from insights.money import ZERO, round_money


def billable_amount(amount: Decimal, markup: Decimal, currency: str, *, billable: bool) -> Decimal:
    if not billable:
        return ZERO
    return round_money(amount * (1 + markup), currency)
