"""Where revenue from invoices (issue 6) and AI inference cost (issue 5) enter profitability.

* :func:`invoiced_revenue` — recognised revenue from the revenue schedule (``persistence.revenue``), time and
  materials attributed to projects; with it, only time no approved invoice has billed counts as WIP.
* :func:`ai_inference_cost` — metered provider cost per client (``persistence.usage_store.provider_cost``);
  usage names a client, not a project, so it is counted on the client row.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.revenue import recognised_by_client, recognised_by_project
from persistence.usage_store import provider_cost


class InvoicedRevenue(msgspec.Struct, kw_only=True):
    source: str
    by_project: dict[uuid.UUID, dict[str, Decimal]]
    unattributed_by_client: dict[uuid.UUID, dict[str, Decimal]]


class AiCost(msgspec.Struct, kw_only=True):
    source: str
    by_project: dict[uuid.UUID, dict[str, Decimal]]
    unattributed_by_client: dict[uuid.UUID, dict[str, Decimal]]


def _add(target: dict[uuid.UUID, dict[str, Decimal]], key: uuid.UUID, currency: str, amount: Decimal) -> None:
    bucket = target.setdefault(key, {})
    bucket[currency] = bucket.get(currency, Decimal(0)) + Decimal(amount)


async def invoiced_revenue(session: AsyncSession, start: date, end: date) -> InvoicedRevenue:
    """Revenue *recognised* in the months of [start, end] (``persistence.revenue``): each invoiced amount counts
    in the month it is earned — a retainer billed in advance in the month it pays for — less what credit notes
    took back, voided invoices left out."""
    result = InvoicedRevenue(
        source="recognised revenue (the revenue schedule: each line in the month it is earned, credit notes "
        "taken off, void invoices left out): time-and-materials lines by project; the rest (retainers, AI "
        "usage, minimums, discounts) on the client's unattributed row",
        by_project={},
        unattributed_by_client={},
    )
    attributed: dict[tuple[uuid.UUID, str], Decimal] = {}
    projects = list(await recognised_by_project(session, start, end))
    for project_id, currency, amount in projects:
        _add(result.by_project, project_id, currency, amount)
    query = text("SELECT id, client_id FROM projects WHERE id = ANY(:ids)")
    clients: dict[uuid.UUID, uuid.UUID] = {
        row.id: row.client_id for row in await session.execute(query, {"ids": list(result.by_project)})
    }
    for project_id, currency, amount in projects:
        key = (clients[project_id], currency)
        attributed[key] = attributed.get(key, Decimal(0)) + amount
    # The rest of each client's recognised net (retainers, AI usage, minimums, discounts, …) is client revenue.
    for (client_id, currency), total in (await recognised_by_client(session, start, end)).items():
        rest = total - attributed.get((client_id, currency), Decimal(0))
        if rest:
            _add(result.unattributed_by_client, client_id, currency, rest)
    return result


async def ai_inference_cost(session: AsyncSession, start: date, end: date) -> AiCost:
    result = AiCost(source="metered provider cost", by_project={}, unattributed_by_client={})
    for client_id, project_id, currency, amount in await provider_cost(session, start, end):
        if project_id is None:
            _add(result.unattributed_by_client, client_id, currency, amount)
        else:
            _add(result.by_project, project_id, currency, amount)
    return result
