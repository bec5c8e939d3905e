"""Graduated tiers: each tier prices only the units that fall inside it.

Tier ``i`` covers ``(from, up_to]``, so with tiers (0, 1000] and (1000, inf) a quantity of 1000.5
is 1000 units in the first tier and 0.5 in the second; exactly 1000 stays entirely in the first. The
comparison is on exact Decimals, never on integers, so fractional quantities at a boundary are right.
A tier's flat fee applies once as soon as any quantity falls into it.
"""

from __future__ import annotations

from decimal import Decimal

from billing.charge_models.base import PriceResult
from billing.invoice import TraceStep
from billing.terms import Graduated


class GraduatedModel:
    linear = False
    name = "graduated"

    def __init__(self, p: Graduated, rule: str) -> None:
        self.tiers = [(t.from_, t.up_to, t.unit_price, t.flat_fee, f"{rule}/tiers/{i}") for i, t in enumerate(p.tiers)]

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult:
        total = Decimal(0)
        steps: list[TraceStep] = []
        for lo, hi, unit_price, flat, rule in self.tiers:
            if quantity <= lo:
                break
            top = quantity if hi is None or quantity < hi else hi
            units = top - lo
            amount = units * unit_price + flat
            total += amount
            steps.append(
                TraceStep(
                    stage="tier",
                    rule=rule,
                    note="graduated",
                    quantity=units,
                    unit_price=unit_price,
                    flat_fee=flat or None,
                    amount=amount,
                    basis=lo,
                    limit=hi,
                )
            )
        return total, steps, None
