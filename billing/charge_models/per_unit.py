"""Per-unit: quantity x unit price. Unit prices may carry many decimals (e.g. 0.0000025 per token)."""

from __future__ import annotations

from decimal import Decimal

from billing.charge_models.base import PriceResult
from billing.invoice import TraceStep
from billing.terms import PerUnit


class PerUnitModel:
    linear = True
    name = "per_unit"

    def __init__(self, p: PerUnit, rule: str) -> None:
        self.unit_price = p.unit_price
        self.rule = rule

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult:
        amount = quantity * self.unit_price
        step = TraceStep(
            stage="price", rule=self.rule, note="per_unit", quantity=quantity, unit_price=self.unit_price, amount=amount
        )
        return amount, [step], self.unit_price
