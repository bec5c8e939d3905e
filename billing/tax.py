"""Tax: computed once per rate, on the sum of the rounded lines carrying that rate.

Rounding tax per line and adding it up differs from rounding it once on the base by up to half a
minor unit per line; invoices and tax returns are reconciled per rate, so the engine does the latter.
"""

from __future__ import annotations

from decimal import Decimal

from billing.invoice import TaxLine
from billing.items import TaxRateC
from billing.money import from_minor


def compute_tax(
    bases: dict[tuple[str, Decimal], tuple[TaxRateC, int]], minor: int, rounding: str
) -> tuple[list[TaxLine], int]:
    lines: list[TaxLine] = []
    total = 0
    for key in sorted(bases):
        rate, base = bases[key]
        amount = int((Decimal(base) * rate.factor).to_integral_value(rounding=rounding))
        total += amount
        lines.append(
            TaxLine(
                rate_id=rate.id,
                name=rate.name,
                percent=rate.percent,
                base=from_minor(base, minor),
                amount=from_minor(amount, minor),
            )
        )
    return lines, total
