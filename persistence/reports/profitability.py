"""Profitability of projects and clients for a period: two aggregate queries, then ``insights``.

Time is aggregated in PostgreSQL per (project, cost currency, bill currency, invoiced?) — a few rows per
project whatever the number of entries — with ``Σ minutes × rate`` kept exact; expenses likewise. The
report is computed over the entries' local work dates and the expenses' ``spent_on`` in ``[start, end]``.

An entry or expense is *invoiced* when an approved invoice billed it (it is in that invoice's stored inputs),
not when its date falls in a locked period: time or an expense approved after its period was invoiced stays
WIP until the next invoice bills it on a late line, and an expense in another currency than its contract's
(never billed) stays WIP.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from insights import profitability
from insights.money import SIXTY, add_to
from persistence.expense_store import BILLED_EXPENSE_IDS_SQL
from persistence.reports.seams import ai_inference_cost, invoiced_revenue
from persistence.time_store import BILLED_TIME_IDS_SQL

_FILTERS = """
  AND (CAST(:client_id AS uuid) IS NULL OR p.client_id = CAST(:client_id AS uuid))
  AND (CAST(:project_id AS uuid) IS NULL OR p.id = CAST(:project_id AS uuid))
"""

TIME_SQL = (
    """
SELECT e.project_id, e.cost_currency, e.bill_currency, (b.id IS NOT NULL) AS locked,
       sum(e.minutes) AS minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.billable), 0) AS billable_minutes,
       coalesce(sum(e.minutes) FILTER (WHERE e.billable AND e.bill_rate IS NULL), 0) AS unpriced_minutes,
       sum(e.minutes * e.cost_rate) AS cost_x60,
       coalesce(sum(e.minutes * e.bill_rate) FILTER (WHERE e.billable), 0) AS value_x60
FROM time_entries e
JOIN projects p ON p.id = e.project_id
LEFT JOIN ("""
    + BILLED_TIME_IDS_SQL
    + """) b ON b.id = e.id::text
WHERE e.work_date >= :start AND e.work_date <= :end
"""
    + _FILTERS
    + "GROUP BY 1, 2, 3, 4"
)

EXPENSE_SQL = (
    """
SELECT x.project_id, x.currency, (b.id IS NOT NULL) AS locked,
       coalesce(sum(x.amount) FILTER (WHERE x.status <> 'rejected'), 0) AS cost,
       coalesce(sum(x.billable_amount) FILTER (WHERE x.status = 'approved' AND x.billable), 0) AS rebill
FROM expenses x
JOIN projects p ON p.id = x.project_id
LEFT JOIN ("""
    + BILLED_EXPENSE_IDS_SQL
    + """) b ON b.id = x.id::text
WHERE x.spent_on >= :start AND x.spent_on <= :end
"""
    + _FILTERS
    + "GROUP BY 1, 2, 3"
)

PROJECTS_SQL = """
SELECT p.id, p.code, p.name, p.client_id, c.name AS client_name, c.currency
FROM projects p JOIN clients c ON c.id = p.client_id
WHERE p.id = ANY(:ids)
"""

CLIENTS_SQL = "SELECT id, name, currency FROM clients WHERE id = ANY(:ids)"


class ProfitabilityReport(msgspec.Struct, kw_only=True):
    start: date
    end: date
    group_by: str
    rows: list[profitability.ProfitRow]
    totals: list[profitability.Totals]
    sources: dict[str, str]


def empty_figures() -> dict[str, object]:
    """The accumulators of one project's figures, before any time, expense, invoice or usage is added."""
    return {
        "minutes": Decimal(0),
        "billable_minutes": Decimal(0),
        "unpriced_billable_minutes": Decimal(0),
        "time_value_open": {},
        "time_value_locked": {},
        "rebill_open": {},
        "rebill_locked": {},
        "staff_cost": {},
        "expense_cost": {},
        "ai_cost": {},
        "invoiced": {},
    }


async def gather(
    session: AsyncSession,
    start: date,
    end: date,
    *,
    client_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
) -> tuple[list[profitability.ProjectFigures], dict[uuid.UUID, profitability.ProjectFigures], dict[str, str], bool]:
    """Exact per-project figures, client-level extras, the sources used, and whether invoices count."""
    params = {"start": start, "end": end, "client_id": client_id, "project_id": project_id}
    # A cached generic plan cannot see which optional filters are null nor how wide the period is, and
    # runs this aggregate 2-3x slower than a plan made for the actual values: always plan for them.
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    time_rows = (await session.execute(text(TIME_SQL), params)).all()
    expense_rows = (await session.execute(text(EXPENSE_SQL), params)).all()
    invoiced = await invoiced_revenue(session, start, end)
    ai = await ai_inference_cost(session, start, end)
    sources = {
        "invoiced": invoiced.source,
        "ai_cost": ai.source,
        "wip": "billable time no approved invoice has billed yet x bill rate snapshotted from the rate card "
        "+ approved re-billed expenses no approved invoice has billed yet",
        "staff_cost": "time x cost rate snapshotted from the person when the entry was written",
    }

    figures: dict[uuid.UUID, dict[str, object]] = {}

    def slot(pid: uuid.UUID) -> dict[str, object]:
        return figures.setdefault(pid, empty_figures())

    def money(s: dict[str, object], key: str) -> dict[str, Decimal]:
        bucket = s[key]
        assert isinstance(bucket, dict)
        return bucket

    def count(s: dict[str, object], key: str, amount: Decimal) -> None:
        current = s[key]
        assert isinstance(current, Decimal)
        s[key] = current + amount

    for r in time_rows:
        s = slot(r.project_id)
        count(s, "minutes", r.minutes)
        count(s, "billable_minutes", r.billable_minutes)
        count(s, "unpriced_billable_minutes", r.unpriced_minutes)
        add_to(money(s, "staff_cost"), r.cost_currency, r.cost_x60 / SIXTY)
        if r.bill_currency is not None:
            key = "time_value_locked" if r.locked else "time_value_open"
            add_to(money(s, key), r.bill_currency, r.value_x60 / SIXTY)
    for r in expense_rows:
        s = slot(r.project_id)
        add_to(money(s, "expense_cost"), r.currency, r.cost)
        add_to(money(s, "rebill_locked" if r.locked else "rebill_open"), r.currency, r.rebill)
    for pid, amounts in invoiced.by_project.items():
        for currency, amount in amounts.items():
            add_to(money(slot(pid), "invoiced"), currency, amount)
    for pid, amounts in ai.by_project.items():
        for currency, amount in amounts.items():
            add_to(money(slot(pid), "ai_cost"), currency, amount)
    client_extra_amounts = ai.unattributed_by_client
    meta = (await session.execute(text(PROJECTS_SQL), {"ids": list(figures)})).all()
    projects: list[profitability.ProjectFigures] = []
    for m in meta:
        if (client_id is not None and m.client_id != client_id) or (project_id is not None and m.id != project_id):
            continue
        projects.append(
            profitability.ProjectFigures(
                project_id=m.id,
                project_code=m.code,
                project_name=m.name,
                client_id=m.client_id,
                client_name=m.client_name,
                currency=m.currency,
                **figures[m.id],  # type: ignore[arg-type]
            )
        )
    extras: dict[uuid.UUID, profitability.ProjectFigures] = {}
    unattributed = set(client_extra_amounts) | set(invoiced.unattributed_by_client)
    if unattributed and project_id is None:
        wanted = [cid for cid in unattributed if client_id is None or cid == client_id]
        for c in (await session.execute(text(CLIENTS_SQL), {"ids": wanted})).all():
            extras[c.id] = profitability.ProjectFigures(
                project_id=uuid.UUID(int=0),
                project_code="",
                project_name="(unattributed)",
                client_id=c.id,
                client_name=c.name,
                currency=c.currency,
                ai_cost=client_extra_amounts.get(c.id, {}),
                invoiced=invoiced.unattributed_by_client.get(c.id, {}),
            )
    return projects, extras, sources, True


async def profitability_report(
    session: AsyncSession,
    start: date,
    end: date,
    *,
    group_by: str = "project",
    client_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
) -> ProfitabilityReport:
    projects, extras, sources, invoiced_available = await gather(
        session, start, end, client_id=client_id, project_id=project_id
    )
    if group_by == "client":
        rows = profitability.client_rows(projects, invoiced_available=invoiced_available, client_extra=extras)
    else:
        rows = profitability.project_rows(projects, invoiced_available=invoiced_available)
    return ProfitabilityReport(
        start=start,
        end=end,
        group_by=group_by,
        rows=rows,
        totals=profitability.totals(rows),
        sources=sources,
    )
