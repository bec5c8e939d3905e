"""Discounts: percentage or fixed, scoped, applied after rating and before minimums.

* A percentage discount produces one line per (discount, site, tax rate): the percentage of that
  group's in-scope amount, rounded once. It never takes a group below zero.
* A fixed discount is an amount per period over its whole scope, capped at the in-scope amount and
  split across the in-scope lines pro rata (exactly, largest remainder), then shown per site/tax rate.
* ``options.discount_stacking``: ``sequential`` (default) applies discounts in document order, each on
  what the previous ones left; ``additive`` computes every discount on the undiscounted amount.
"""

from __future__ import annotations

from decimal import Decimal

from billing.invoice import TraceStep
from billing.items import Adj, Item, TaxRateC, spread, tax_id
from billing.money import from_minor
from billing.periods import Period
from billing.plan import DiscountC, VersionPlan
from billing.selection import ItemIndex


def apply_discounts(
    vp: VersionPlan, period: Period, index: ItemIndex, minor: int, adjs: list[Adj], delta_for: str | None = None
) -> None:
    additive = vp.options.discount_stacking == "additive"
    for d in vp.discounts:
        if not d.valid(period.index):
            continue
        scoped = index.select(d.scope)
        if not scoped:
            continue
        if d.percent is not None:
            _percent(vp, d, scoped, additive, minor, adjs)
        else:
            _fixed(d, scoped, additive, minor, adjs)


def _percent(vp: VersionPlan, d: DiscountC, scoped: list[Item], additive: bool, minor: int, adjs: list[Adj]) -> None:
    assert d.percent is not None
    groups: dict[tuple[str, str], list[Item]] = {}
    for it in scoped:
        groups.setdefault((it.site, tax_id(it.tax)), []).append(it)
    for (site, tid), group in groups.items():
        basis = sum((it.base if additive else it.net) for it in group)
        current = sum(it.net for it in group)
        if basis <= 0 or current <= 0:
            continue
        exact = Decimal(basis) * d.percent / 100
        off = int(exact.to_integral_value(rounding=vp.rounding))
        limited = off > current
        off = min(off, current)
        if off == 0:
            continue
        weights = [max(0, it.base if additive else it.net) for it in group]
        spread(-off, group, weights)
        tax: TaxRateC | None = group[0].tax
        trace = [
            TraceStep(
                stage="discount",
                rule=f"{d.path}/percent",
                percent=d.percent,
                basis=from_minor(basis, minor),
                before=from_minor(current, minor),
                amount=from_minor(-off, minor),
                after=from_minor(current - off, minor),
                note="limited to the remaining amount" if limited else "",
            )
        ]
        adjs.append(
            Adj(f"discount|{d.id}|{site}|{tid}", "discount", site, -off, tax, f"{d.description} ({d.percent}%)", trace)
        )


def _fixed(d: DiscountC, scoped: list[Item], additive: bool, minor: int, adjs: list[Adj]) -> None:
    assert d.amount is not None
    weights = [max(0, it.net) for it in scoped]
    available = sum(weights)
    off = min(d.amount, available)
    if off <= 0:
        return
    before = {(it.site, tax_id(it.tax)): 0 for it in scoped}
    for it in scoped:
        before[(it.site, tax_id(it.tax))] += it.net
    for (site, tid), (amt, tax) in spread(-off, scoped, weights).items():
        trace = [
            TraceStep(
                stage="discount",
                rule=f"{d.path}/amount",
                limit=from_minor(d.amount, minor),
                basis=from_minor(available, minor),
                before=from_minor(before[(site, tid)], minor),
                amount=from_minor(amt, minor),
                after=from_minor(before[(site, tid)] + amt, minor),
                note="fixed amount split pro rata over the scope"
                + ("; limited to the in-scope amount" if off < d.amount else ""),
            )
        ]
        adjs.append(Adj(f"discount|{d.id}|{site}|{tid}", "discount", site, amt, tax, d.description, trace))
