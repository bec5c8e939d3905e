"""Package: a price per started block of N units (1,000.5 units in blocks of 1,000 are 2 blocks).

Rounding the package count *up* is the contract's intent ("per 1,000 or part thereof"); it is a
quantity rule, separate from money rounding.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from billing.charge_models.base import PriceResult
from billing.invoice import TraceStep
from billing.money import divide
from billing.terms import Package


class PackageModel:
    linear = False
    name = "package"

    def __init__(self, p: Package, rule: str) -> None:
        self.size = p.package_size
        self.package_price = p.package_price
        self.rule = rule

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult:
        if quantity <= 0:
            packages = Decimal(0)
        else:
            packages = divide(quantity, self.size).to_integral_value(rounding=ROUND_CEILING)
        amount = packages * self.package_price
        step = TraceStep(
            stage="price",
            rule=self.rule,
            note="package",
            quantity=packages,
            unit_price=self.package_price,
            amount=amount,
            basis=quantity,
            limit=self.size,
        )
        return amount, [step], None
