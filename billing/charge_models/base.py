"""The shared shape of a compiled charge model."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from billing.invoice import TraceStep

# (exact amount, trace steps, unit price when amount == quantity x unit price, else None)
PriceResult = tuple[Decimal, list[TraceStep], Decimal | None]


class ChargeModel(Protocol):
    #: linear models price each line on its own; non-linear ones honour the charge's tier_basis
    linear: bool
    name: str

    def price(self, quantity: Decimal, provider_cost: Decimal | None) -> PriceResult: ...
