"""Internal line model shared by the pipeline stages.

Base lines (fees, time, milestones, usage, true-ups) are ``Item`` objects whose ``net`` follows the
amount through the pipeline: each later adjustment (NTE write-down, discount, cap, credit) is rounded
once at its own line and then allocated exactly onto the items it adjusts, so a later stage's scope
sees precisely what is left of each line. Adjustments themselves are output as ``Adj`` lines, one per
(rule, site, tax rate), so every invoice line has exactly one site and one tax rate.

Money here is integer minor units; Decimals appear only at the boundaries (pricing, output).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.invoice import TraceStep
from billing.money import allocate


class TaxRateC:
    __slots__ = ("factor", "id", "name", "percent")

    def __init__(self, id: str, name: str, percent: Decimal) -> None:
        self.id = id
        self.name = name
        self.percent = percent
        self.factor = percent / 100


class Item:
    __slots__ = (
        "base",
        "category",
        "charge",
        "delta_for",
        "description",
        "emit",
        "gross",
        "group",
        "key",
        "kind",
        "min_ref",
        "net",
        "provider_cost",
        "quantity",
        "site",
        "tax",
        "trace",
        "unit",
        "unit_price",
    )

    def __init__(
        self,
        key: str,
        kind: str,
        site: str,
        gross: int,
        tax: TaxRateC | None,
        description: str,
        *,
        category: str | None = None,
        charge: str | None = None,
        quantity: Decimal | None = None,
        unit: str = "",
        unit_price: Decimal | None = None,
        trace: list[TraceStep] | None = None,
        min_ref: Any = None,
        emit: bool = True,
    ) -> None:
        self.key = key
        self.kind = kind
        self.site = site
        self.gross = gross
        self.net = gross
        self.base = gross
        self.tax = tax
        self.description = description
        self.category = category
        self.charge = charge
        self.quantity = quantity
        self.unit = unit
        self.unit_price = unit_price
        self.trace = trace if trace is not None else []
        self.min_ref = min_ref
        self.emit = emit
        self.delta_for: str | None = None
        self.provider_cost: Decimal | None = None
        self.group: tuple[str, ...] = ()


class Adj:
    """An adjustment line (NTE write-down, discount, cap, credit, delta) ready for output."""

    __slots__ = (
        "amount",
        "category",
        "delta_for",
        "description",
        "key",
        "kind",
        "quantity",
        "site",
        "tax",
        "trace",
        "unit",
        "unit_price",
    )

    def __init__(
        self,
        key: str,
        kind: str,
        site: str,
        amount: int,
        tax: TaxRateC | None,
        description: str,
        trace: list[TraceStep],
        *,
        delta_for: str | None = None,
        category: str | None = None,
        quantity: Decimal | None = None,
        unit: str = "",
        unit_price: Decimal | None = None,
    ) -> None:
        self.key = key
        self.kind = kind
        self.site = site
        self.amount = amount
        self.tax = tax
        self.description = description
        self.trace = trace
        self.delta_for = delta_for
        self.category = category
        self.quantity = quantity
        self.unit = unit
        self.unit_price = unit_price


def tax_id(tax: TaxRateC | None) -> str:
    return "" if tax is None else tax.id


def spread(total: int, items: list[Item], weights: list[int]) -> dict[tuple[str, str], tuple[int, TaxRateC | None]]:
    """Allocate ``total`` onto items (updating their nets) and sum the shares per (site, tax rate).

    The returned mapping keeps first-seen order, so output lines come out in item order.
    """
    shares = allocate(total, weights)
    groups: dict[tuple[str, str], tuple[int, TaxRateC | None]] = {}
    for it, share in zip(items, shares, strict=True):
        if not share:
            continue
        it.net += share
        k = (it.site, tax_id(it.tax))
        prev = groups.get(k)
        groups[k] = (share + (prev[0] if prev else 0), it.tax)
    return groups


def reduction_weights(items: list[Item], total: int) -> list[int]:
    """Weights for allocating an adjustment: positive nets when reducing, negative nets when restoring."""
    if total <= 0:
        return [it.net if it.net > 0 else 0 for it in items]
    w = [-it.net if it.net < 0 else 0 for it in items]
    if any(w):
        return w
    return [abs(it.net) for it in items]
