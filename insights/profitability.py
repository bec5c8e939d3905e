"""Profitability per project and per client for a period.

For a project whose client bills in currency ``C`` (all money of a row is in ``C``):

* ``revenue = invoiced + wip``
* ``invoiced`` = invoice revenue for the period (0 until invoicing exists, see ``invoiced_available``)
* ``wip`` (unbilled work in progress) = billable time × snapshotted bill rate + approved re-billed
  expenses (amount × (1 + markup)). When invoiced revenue is available, only entries no approved invoice
  has billed (``time_value_open``; the caller decides, see ``persistence/reports/profitability.py``) and
  re-billed expenses no approved invoice has billed (``rebill_open``; ``rebill_locked`` holds the billed
  ones) count as WIP (the rest is in ``invoiced``); when it is not, every billable entry of the period is WIP.
* ``staff_cost`` = Σ minutes / 60 × snapshotted cost rate, every entry (billable or not)
* ``expenses`` = Σ amount of expenses that are not rejected
* ``ai_cost`` = metered provider cost of AI inference attributed to the project (client rows add the
  client's unattributed usage)
* ``margin = revenue − staff_cost − expenses − ai_cost``; ``margin_pct = margin / revenue × 100``
  (None when revenue is 0)

Sums are exact; each reported figure is rounded once (half-up to ``C``'s minor unit). Amounts recorded in
another currency than ``C`` (a person paid in USD on a EUR client) are not converted: they are listed in
``unconverted`` and left out of the margin, with a warning.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec

from insights.money import ZERO, add_to, hours_of, percent, round_hours, round_money


class ProjectFigures(msgspec.Struct, kw_only=True):
    """Exact sums for one project, keyed by currency where money may come in several."""

    project_id: uuid.UUID
    project_code: str
    project_name: str
    client_id: uuid.UUID
    client_name: str
    currency: str
    minutes: Decimal = ZERO
    billable_minutes: Decimal = ZERO
    unpriced_billable_minutes: Decimal = ZERO
    time_value_open: dict[str, Decimal] = {}
    time_value_locked: dict[str, Decimal] = {}
    rebill_open: dict[str, Decimal] = {}
    rebill_locked: dict[str, Decimal] = {}
    staff_cost: dict[str, Decimal] = {}
    expense_cost: dict[str, Decimal] = {}
    ai_cost: dict[str, Decimal] = {}
    invoiced: dict[str, Decimal] = {}


class Unconverted(msgspec.Struct, frozen=True):
    component: str
    currency: str
    amount: Decimal


class ProfitRow(msgspec.Struct, kw_only=True):
    client_id: uuid.UUID
    client_name: str
    project_id: uuid.UUID | None = None
    project_code: str | None = None
    project_name: str | None = None
    currency: str
    hours: Decimal
    billable_hours: Decimal
    invoiced: Decimal
    wip: Decimal
    revenue: Decimal
    staff_cost: Decimal
    expenses: Decimal
    ai_cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    unconverted: list[Unconverted] = []
    warnings: list[str] = []


class Totals(msgspec.Struct, kw_only=True):
    currency: str
    revenue: Decimal
    staff_cost: Decimal
    expenses: Decimal
    ai_cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None


def _merge(a: dict[str, Decimal], b: dict[str, Decimal]) -> dict[str, Decimal]:
    out = dict(a)
    for currency, amount in b.items():
        add_to(out, currency, amount)
    return out


def _row(figures: ProjectFigures, *, invoiced_available: bool, per_project: bool) -> ProfitRow:
    c = figures.currency
    if invoiced_available:
        wip_parts = _merge(figures.time_value_open, figures.rebill_open)
        invoiced = figures.invoiced
    else:
        wip_parts = _merge(
            _merge(figures.time_value_open, figures.time_value_locked),
            _merge(figures.rebill_open, figures.rebill_locked),
        )
        invoiced = {}
    components = {
        "invoiced": invoiced,
        "wip": wip_parts,
        "staff_cost": figures.staff_cost,
        "expenses": figures.expense_cost,
        "ai_cost": figures.ai_cost,
    }
    exact = {name: parts.get(c, ZERO) for name, parts in components.items()}
    unconverted = [
        Unconverted(component=name, currency=cur, amount=amount)
        for name, parts in components.items()
        for cur, amount in sorted(parts.items())
        if cur != c and amount != ZERO
    ]
    revenue = exact["invoiced"] + exact["wip"]
    margin = revenue - exact["staff_cost"] - exact["expenses"] - exact["ai_cost"]
    warnings = []
    if figures.unpriced_billable_minutes > ZERO:
        warnings.append(
            f"{round_hours(hours_of(figures.unpriced_billable_minutes))} billable hours have no bill rate "
            "(set a rate card): WIP is understated"
        )
    if unconverted:
        warnings.append(f"amounts not in {c} are not converted and are left out of the margin")
    return ProfitRow(
        client_id=figures.client_id,
        client_name=figures.client_name,
        project_id=figures.project_id if per_project else None,
        project_code=figures.project_code if per_project else None,
        project_name=figures.project_name if per_project else None,
        currency=c,
        hours=round_hours(hours_of(figures.minutes)),
        billable_hours=round_hours(hours_of(figures.billable_minutes)),
        invoiced=round_money(exact["invoiced"], c),
        wip=round_money(exact["wip"], c),
        revenue=round_money(revenue, c),
        staff_cost=round_money(exact["staff_cost"], c),
        expenses=round_money(exact["expenses"], c),
        ai_cost=round_money(exact["ai_cost"], c),
        margin=round_money(margin, c),
        margin_pct=percent(margin, revenue),
        unconverted=[Unconverted(u.component, u.currency, round_money(u.amount, u.currency)) for u in unconverted],
        warnings=warnings,
    )


def _combine(a: ProjectFigures, b: ProjectFigures) -> ProjectFigures:
    return ProjectFigures(
        project_id=a.project_id,
        project_code=a.project_code,
        project_name=a.project_name,
        client_id=a.client_id,
        client_name=a.client_name,
        currency=a.currency,
        minutes=a.minutes + b.minutes,
        billable_minutes=a.billable_minutes + b.billable_minutes,
        unpriced_billable_minutes=a.unpriced_billable_minutes + b.unpriced_billable_minutes,
        time_value_open=_merge(a.time_value_open, b.time_value_open),
        time_value_locked=_merge(a.time_value_locked, b.time_value_locked),
        rebill_open=_merge(a.rebill_open, b.rebill_open),
        rebill_locked=_merge(a.rebill_locked, b.rebill_locked),
        staff_cost=_merge(a.staff_cost, b.staff_cost),
        expense_cost=_merge(a.expense_cost, b.expense_cost),
        ai_cost=_merge(a.ai_cost, b.ai_cost),
        invoiced=_merge(a.invoiced, b.invoiced),
    )


def project_rows(figures: list[ProjectFigures], *, invoiced_available: bool) -> list[ProfitRow]:
    rows = [_row(f, invoiced_available=invoiced_available, per_project=True) for f in figures]
    return sorted(rows, key=lambda r: (r.client_name, r.project_code or ""))


def client_rows(
    figures: list[ProjectFigures],
    *,
    invoiced_available: bool,
    client_extra: dict[uuid.UUID, ProjectFigures] | None = None,
) -> list[ProfitRow]:
    """One row per client: exact project sums combined, plus client-level extras (unattributed AI cost)."""
    by_client: dict[uuid.UUID, ProjectFigures] = {}
    for f in figures:
        by_client[f.client_id] = _combine(by_client[f.client_id], f) if f.client_id in by_client else f
    for client_id, extra in (client_extra or {}).items():
        by_client[client_id] = _combine(by_client[client_id], extra) if client_id in by_client else extra
    rows = [_row(f, invoiced_available=invoiced_available, per_project=False) for f in by_client.values()]
    return sorted(rows, key=lambda r: r.client_name)


def totals(rows: list[ProfitRow]) -> list[Totals]:
    """Grand totals per currency (sums of the rounded rows, so the report adds up on paper)."""
    acc: dict[str, list[Decimal]] = {}
    for r in rows:
        t = acc.setdefault(r.currency, [ZERO] * 5)
        for i, value in enumerate((r.revenue, r.staff_cost, r.expenses, r.ai_cost, r.margin)):
            t[i] += value
    return [
        Totals(
            currency=cur,
            revenue=t[0],
            staff_cost=t[1],
            expenses=t[2],
            ai_cost=t[3],
            margin=t[4],
            margin_pct=percent(t[4], t[0]),
        )
        for cur, t in sorted(acc.items())
    ]
