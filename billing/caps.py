"""Annual caps per scope, accumulated over the contract year and carried in state.

Each cap instance keeps two running totals per contract year: what the scope would have billed
(``uncapped``) and what it did bill (``billed``). A period's in-scope amount ``delta`` is billed as

* ``delta >= 0``: ``min(delta, cap - billed)`` (never below zero) — the rest is written off;
* ``delta < 0`` (a correction): the correction first reduces what the cap had written off, and only
  the remainder reduces what was billed.

With an unchanged cap this makes billed == min(cap, uncapped) at every point, whatever the order or
split of the usage, which is what lets late usage be billed as an exact delta. An amendment that raises
the cap mid-year never re-bills amounts already written off; one that lowers it never refunds.
"""

from __future__ import annotations

from billing.invoice import Commitment, TraceStep
from billing.items import Adj, Item, reduction_weights, spread
from billing.money import from_minor
from billing.periods import Period, contract_year_start
from billing.plan import RatingPlan, VersionPlan
from billing.selection import ItemIndex

CapAccounts = dict[tuple[str, str, str], list[int]]  # (cap, instance, year start) -> [uncapped, billed]


def cap_increment(cap: int, uncapped: int, billed: int, delta: int) -> int:
    """How much of ``delta`` is billed given the year's totals so far (see module docstring)."""
    if delta >= 0:
        room = cap - billed
        return min(delta, room) if room > 0 else 0
    written_off = uncapped - billed
    absorbed = min(written_off, -delta) if written_off > 0 else 0
    return delta + absorbed


def apply_caps(
    plan: RatingPlan,
    vp: VersionPlan,
    period: Period,
    index: ItemIndex,
    accounts: CapAccounts,
    adjs: list[Adj],
    commitments: list[Commitment] | None,
    delta_for: str | None = None,
) -> None:
    minor = plan.minor
    year = contract_year_start(period, plan.anchor).key
    for c in vp.caps:
        scoped = index.select(c.scope)
        if c.contains:
            site = next(iter(c.scope.sites)) if c.scope.sites is not None and len(c.scope.sites) == 1 else None
            src = index.by_site.get(site, []) if site is not None else index.items
            scoped += [
                it for it in src if it.min_ref is not None and (it.min_ref.id, it.min_ref.instance) in c.contains
            ]
        delta = sum(it.net for it in scoped)
        key = (c.id, c.instance, year)
        acct = accounts.get(key)
        if acct is None:
            acct = accounts[key] = [0, 0]
        uncapped, billed = acct
        inc = cap_increment(c.amount, uncapped, billed, delta)
        adj = inc - delta
        acct[0] = uncapped + delta
        acct[1] = billed + inc
        if adj:
            _lines(c, scoped, adj, billed, delta, inc, minor, year, adjs, delta_for)
        if commitments is not None:
            commitments.append(
                Commitment(
                    type="annual_cap",
                    id=c.id,
                    instance=c.instance,
                    rule=c.path,
                    limit=from_minor(c.amount, minor),
                    before=from_minor(billed, minor),
                    basis=from_minor(delta, minor),
                    adjustment=from_minor(adj, minor),
                    after=from_minor(acct[1], minor),
                    remaining=from_minor(max(0, c.amount - acct[1]), minor),
                    note=f"contract year from {year}",
                )
            )


def _lines(
    c: object,
    scoped: list[Item],
    adj: int,
    billed: int,
    delta: int,
    inc: int,
    minor: int,
    year: str,
    adjs: list[Adj],
    delta_for: str | None,
) -> None:
    from billing.plan import CapC

    assert isinstance(c, CapC)
    where = f" ({c.instance})" if c.instance else ""
    groups = spread(adj, scoped, reduction_weights(scoped, adj))
    prefix = f"late|{delta_for}|" if delta_for else ""
    for (site, tid), (amt, tax) in groups.items():
        trace = [
            TraceStep(
                stage="cap",
                rule=f"{c.path}/amount",
                limit=from_minor(c.amount, minor),
                before=from_minor(billed, minor),
                basis=from_minor(delta, minor),
                amount=from_minor(amt, minor),
                after=from_minor(billed + inc, minor),
                note=f"contract year from {year}; billed before/after this period"
                + (f"; share for site {site}" if len(groups) > 1 else ""),
            )
        ]
        desc = f"{c.description}{where}: {from_minor(c.amount, minor)} per contract year reached"
        if delta_for:
            desc = f"Late usage for {delta_for}: {desc}"
        adjs.append(
            Adj(
                f"{prefix}cap|{c.id}|{c.instance}|{site}|{tid}",
                "cap_adjustment",
                site,
                amt,
                tax,
                desc,
                trace,
                delta_for=delta_for,
            )
        )
