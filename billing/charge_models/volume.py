"""Volume tiers: the tier the *whole* quantity falls into prices every unit.

Same boundary rule as graduated tiers: tier ``(from, up_to]`` holds quantities greater than ``from`` and
at most ``up_to``, so 1000 is priced by the (0, 1000] tier and 1000.0001 by the next one.
"""

from __future__ import annotations

from decimal import Decimal

from billing.charge_models.base import PriceResult
from billing.invoice import TraceStep
from billing.terms import Volume


class VolumeModel:
    linear = False
    name = "volume"

    def __init__(self, p: Volume, rule: str) -> None:
        self.tiers = [(t.from_, t.up_to, t.unit_price, t.flat_fee, f"{rule}/tiers/{i}") for i, t in enumerate(p.tiers)]

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult:
        if quantity <= 0:
            return Decimal(0), [], None
        for lo, hi, unit_price, flat, rule in self.tiers:
            if hi is None or quantity <= hi:
                amount = quantity * unit_price + flat
                step = TraceStep(
                    stage="tier",
                    rule=rule,
                    note="volume",
                    quantity=quantity,
                    unit_price=unit_price,
                    flat_fee=flat or None,
                    amount=amount,
                    basis=lo,
                    limit=hi,
                )
                return amount, [step], (unit_price if not flat else None)
        raise AssertionError("validated tiers always end unbounded")  # pragma: no cover
