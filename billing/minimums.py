"""Monthly minimums per scope, met with ``minimum_true_up`` lines.

The minimum is compared with the scope's amount after discounts (``options.minimum_basis``) and topped
up to it. In a partial period the minimum is prorated by days unless the clause says ``prorate: false``.

Where the true-up stands relative to annual caps is ``options.minimum_vs_cap``: with ``cap_prevails``
(default) minimums run before caps and a true-up counts toward every cap whose scope contains the
minimum's, so a true-up never pushes a scope past its cap; with ``minimum_prevails`` minimums run after
caps on what the cap left, and the true-up is outside the cap.
"""

from __future__ import annotations

from billing.invoice import Commitment, TraceStep
from billing.items import Item
from billing.money import from_minor
from billing.plan import VersionPlan
from billing.proration import prorate
from billing.selection import ItemIndex
from billing.state import MinimumRecord


def minimum_amount(amount: int, prorated: bool, active: tuple[int, int] | None, days: int, rounding: str) -> int:
    if active is None:
        return 0
    if not prorated:
        return amount
    return prorate(amount, active[0], active[1], days, rounding)


def apply_minimums(
    vp: VersionPlan,
    index: ItemIndex,
    active: tuple[int, int] | None,
    days: int,
    minor: int,
    records: list[MinimumRecord],
    commitments: list[Commitment],
) -> None:
    before_discounts = vp.options.minimum_basis == "before_discounts"
    for m in vp.minimums:
        scoped = index.select(m.scope)
        basis = sum((it.base if before_discounts else it.net) for it in scoped)
        amount = minimum_amount(m.amount, m.prorate, active, days, vp.rounding)
        true_up = amount - basis if amount > basis else 0
        records.append(
            MinimumRecord(
                minimum=m.id, instance=m.instance, basis=from_minor(basis, minor), true_up=from_minor(true_up, minor)
            )
        )
        commitments.append(
            Commitment(
                type="minimum",
                id=m.id,
                instance=m.instance,
                rule=m.path,
                limit=from_minor(amount, minor),
                basis=from_minor(basis, minor),
                adjustment=from_minor(true_up, minor),
                after=from_minor(basis + true_up, minor),
            )
        )
        if true_up:
            index.add(true_up_item(vp, m, basis, amount, true_up, minor))


def true_up_item(
    vp: VersionPlan, m: object, basis: int, amount: int, true_up: int, minor: int, delta_for: str | None = None
) -> Item:
    from billing.plan import MinimumC

    assert isinstance(m, MinimumC)
    where = f" for {vp.site_name(m.instance)}" if m.instance else ""
    trace = [
        TraceStep(
            stage="minimum",
            rule=f"{m.path}/amount",
            limit=from_minor(amount, minor),
            before=from_minor(basis, minor),
            amount=from_minor(true_up, minor),
            after=from_minor(basis + true_up, minor),
            note="prorated minimum" if amount != m.amount else "",
        )
    ]
    it = Item(
        f"minimum|{m.id}|{m.instance}",
        "minimum_true_up",
        m.site,
        true_up,
        m.tax,
        f"{m.description}{where}: true-up to {from_minor(amount, minor)}",
        quantity=None,
        trace=trace,
        min_ref=m,
    )
    it.delta_for = delta_for
    return it
