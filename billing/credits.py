"""Prepaid credits: balances bought in advance, consumed after caps and before tax.

Grants become available in their ``granted`` period and are consumed in order of ``priority`` (lower
first), then earliest expiry, then grant period and id. Each grant covers its scope's remaining positive
amount up to its balance, split across lines pro rata and shown per (grant, site, tax rate). A balance
left after ``expires_after`` is forfeited (with a note). Credits reduce the taxable base: they are
treated as a prepaid price reduction, not as a payment.
"""

from __future__ import annotations

from billing.invoice import Commitment, Note, TraceStep
from billing.items import Adj, spread
from billing.money import from_minor
from billing.periods import Period
from billing.plan import RatingPlan
from billing.selection import ItemIndex
from billing.state import CreditBalance


class _Live:
    __slots__ = ("balance", "remaining")

    def __init__(self, balance: CreditBalance, remaining: int) -> None:
        self.balance = balance
        self.remaining = remaining

    def order(self) -> tuple[int, str, str, str]:
        b = self.balance
        return (b.priority, b.expires_after or "9999-99", b.granted, b.grant)


def apply_credits(
    plan: RatingPlan,
    period: Period,
    index: ItemIndex,
    balances: list[CreditBalance],
    adjs: list[Adj],
    notes: list[Note],
    commitments: list[Commitment],
) -> list[CreditBalance]:
    minor = plan.minor
    known = {b.grant for b in balances}
    live = [_Live(b, int(b.remaining.scaleb(minor))) for b in balances]
    for g in plan.grants:
        if g.id not in known and g.granted <= period:
            live.append(
                _Live(
                    CreditBalance(
                        grant=g.id,
                        granted=g.granted.key,
                        expires_after=g.expires_after.key if g.expires_after else None,
                        priority=g.priority,
                        remaining=from_minor(g.amount, minor),
                    ),
                    g.amount,
                )
            )
    for lv in live:
        b = lv.balance
        if b.expires_after is not None and Period.parse(b.expires_after) < period and lv.remaining > 0:
            notes.append(
                Note(
                    severity="info",
                    code="credit_expired",
                    message=f"prepaid credit {b.grant} expired after {b.expires_after} with "
                    f"{from_minor(lv.remaining, minor)} unused",
                    path=_path(plan, b.grant),
                )
            )
            lv.remaining = 0
    for lv in sorted(live, key=_Live.order):
        grant = plan.grants_by_id.get(lv.balance.grant)
        if lv.remaining <= 0 or grant is None:
            continue
        scoped = [it for it in index.select_with_true_ups(grant.scope) if it.net > 0]
        available = sum(it.net for it in scoped)
        use = min(lv.remaining, available)
        if use > 0:
            groups = spread(-use, scoped, [it.net for it in scoped])
            running = lv.remaining
            for (site, tid), (amt, tax) in groups.items():
                trace = [
                    TraceStep(
                        stage="credit",
                        rule=grant.path,
                        before=from_minor(running, minor),
                        basis=from_minor(available, minor),
                        amount=from_minor(amt, minor),
                        after=from_minor(running + amt, minor),
                        note="balance before/after this line",
                    )
                ]
                running += amt
                adjs.append(
                    Adj(
                        f"credit|{grant.id}|{site}|{tid}",
                        "credit",
                        site,
                        amt,
                        tax,
                        f"{grant.description} (prepaid credit applied)",
                        trace,
                    )
                )
        commitments.append(
            Commitment(
                type="credit",
                id=grant.id,
                rule=grant.path,
                before=from_minor(lv.remaining, minor),
                basis=from_minor(available, minor),
                adjustment=from_minor(-use, minor),
                after=from_minor(lv.remaining - use, minor),
                note=f"expires after {lv.balance.expires_after}" if lv.balance.expires_after else "",
            )
        )
        lv.remaining -= use
    out = [
        CreditBalance(
            grant=lv.balance.grant,
            granted=lv.balance.granted,
            expires_after=lv.balance.expires_after,
            priority=lv.balance.priority,
            remaining=from_minor(lv.remaining, minor),
        )
        for lv in live
    ]
    return sorted(out, key=lambda b: (b.granted, b.grant))


def _path(plan: RatingPlan, grant: str) -> str:
    g = plan.grants_by_id.get(grant)
    return g.path if g else ""
