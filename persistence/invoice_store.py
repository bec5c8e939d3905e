"""Invoiced revenue for profitability, read from approved invoices.

Attribution: a time-and-materials line names its project in its key (``services|<project>|…``, and a not-to-exceed
adjustment ``nte|<project>|…``), so its amount belongs to that project. Lines without a project
(retainer fees, AI usage, minimums, caps, credits, discounts on the whole invoice) are client revenue and are
not attributed to a project; the report says so in ``sources``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LINES = text(
    """
    SELECT p.id AS project_id, i.currency, (line ->> 'amount')::numeric AS amount
    FROM invoices i
    CROSS JOIN LATERAL jsonb_array_elements(i.draft -> 'lines') AS line
    JOIN projects p ON p.client_id = i.client_id AND p.code = split_part(line ->> 'key', '|', 2)
    WHERE i.status = 'approved'
      AND to_date(i.period || '-01', 'YYYY-MM-DD') BETWEEN date_trunc('month', CAST(:start AS date))
                                                       AND CAST(:end AS date)
      AND split_part(line ->> 'key', '|', 1) IN ('services', 'nte')
    """
)


_SUBTOTALS = text(
    """
    SELECT i.client_id, i.currency, sum(i.subtotal) AS amount
    FROM invoices i
    WHERE i.status = 'approved'
      AND to_date(i.period || '-01', 'YYYY-MM-DD') BETWEEN date_trunc('month', CAST(:start AS date))
                                                       AND CAST(:end AS date)
    GROUP BY i.client_id, i.currency
    """
)


async def invoiced_by_client(session: AsyncSession, start: date, end: date) -> dict[tuple[uuid.UUID, str], Decimal]:
    """Net (pre-tax) invoiced revenue per client and currency, for periods starting within [start, end]."""
    rows = await session.execute(_SUBTOTALS, {"start": start, "end": end})
    return {(r.client_id, r.currency): r.amount for r in rows}


async def invoiced_by_project(
    session: AsyncSession, start: date, end: date
) -> Iterable[tuple[uuid.UUID, str, Decimal]]:
    """(project, currency, amount) of approved invoices for periods starting within [start, end]."""
    rows = await session.execute(_LINES, {"start": start, "end": end})
    return [(r.project_id, r.currency, r.amount) for r in rows]
