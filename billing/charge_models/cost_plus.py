"""Cost-plus: the agency's AI margin on top of provider cost.

amount = provider_cost x fx_rate x (1 + margin_percent / 100) + surcharge_per_unit x quantity

The provider cost comes with the usage (metering records it per event); ``fx_rate`` converts it into
the client currency at the contractually agreed rate. Computed exactly and rounded once by the caller,
so a margin on thousands of tiny token costs does not accumulate per-event rounding.
"""

from __future__ import annotations

from decimal import Decimal

from billing.charge_models.base import PriceResult
from billing.invoice import TraceStep
from billing.terms import CostPlus


class CostPlusModel:
    linear = True
    name = "cost_plus"

    def __init__(self, p: CostPlus, rule: str) -> None:
        self.margin = p.margin_percent
        self.factor = p.fx_rate * (1 + p.margin_percent / 100)
        self.fx_rate = p.fx_rate
        self.surcharge = p.surcharge_per_unit
        self.rule = rule

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult:
        cost = provider_cost if provider_cost is not None else Decimal(0)
        marked_up = cost * self.factor
        steps = [
            TraceStep(
                stage="cost_plus",
                rule=self.rule,
                note="provider cost x fx x (1 + margin)",
                basis=cost,
                unit_price=self.fx_rate,
                percent=self.margin,
                amount=marked_up,
            )
        ]
        amount = marked_up
        if self.surcharge:
            sur = quantity * self.surcharge
            amount += sur
            steps.append(
                TraceStep(stage="surcharge", rule=self.rule, quantity=quantity, unit_price=self.surcharge, amount=sur)
            )
        return amount, steps, None
