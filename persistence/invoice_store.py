"""Invoiced revenue for profitability, read from approved invoices.

Attribution: a time-and-materials line names its project in its key (``services|<project>|…``, and a not-to-exceed
adjustment ``nte|<project>|…``), as does a re-billed expense (``expenses|<project>|…``), so its amount belongs to
that project. Lines without a project
(retainer fees, AI usage, minimums, caps, credits, discounts on the whole invoice) are client revenue and are
not attributed to a project; the report says so in ``sources``.

A late line (``late|<period>|<key of the line it adds to>``, ``delta_for: <period>``) — time approved after its
period was invoiced, or late usage — counts for the period it is *for*, not the invoice's: November's late hours
are November's revenue, next to November's staff cost, whichever invoice carried them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Each approved line with the key of the line it bills (a late line's ``late|<period>|`` prefix removed) and
# the period it is for (``delta_for`` of a late line, else the invoice's period).
_APPROVED_LINES = """
    FROM invoices i
    CROSS JOIN LATERAL jsonb_array_elements(i.draft -> 'lines') AS line
    CROSS JOIN LATERAL (
      SELECT regexp_replace(line ->> 'key', '^late[|][^|]*[|]', '') AS key,
             coalesce(line ->> 'delta_for', i.period) AS period
    ) AS k
"""
_IN_RANGE = """
    WHERE i.status = 'approved' AND i.collection IS DISTINCT FROM 'void'
      AND to_date(k.period || '-01', 'YYYY-MM-DD') BETWEEN date_trunc('month', CAST(:start AS date))
                                                       AND CAST(:end AS date)
"""

_LINES = text(
    "SELECT p.id AS project_id, i.currency, (line ->> 'amount')::numeric AS amount"
    + _APPROVED_LINES
    + "JOIN projects p ON p.client_id = i.client_id AND p.code = split_part(k.key, '|', 2)"
    + _IN_RANGE
    + "AND split_part(k.key, '|', 1) IN ('services', 'nte', 'expenses')"
)


_SUBTOTALS = text(
    "SELECT i.client_id, i.currency, sum((line ->> 'amount')::numeric) AS amount"
    + _APPROVED_LINES
    + _IN_RANGE
    + "GROUP BY i.client_id, i.currency"
)


async def invoiced_by_client(session: AsyncSession, start: date, end: date) -> dict[tuple[uuid.UUID, str], Decimal]:
    """Net (pre-tax) invoiced revenue per client and currency, for periods starting within [start, end]: the
    sum of approved lines (which is each invoice's subtotal), late lines counted for the period they are for."""
    rows = await session.execute(_SUBTOTALS, {"start": start, "end": end})
    return {(r.client_id, r.currency): r.amount for r in rows}


async def invoiced_by_project(
    session: AsyncSession, start: date, end: date
) -> Iterable[tuple[uuid.UUID, str, Decimal]]:
    """(project, currency, amount) of approved invoices for periods starting within [start, end]."""
    rows = await session.execute(_LINES, {"start": start, "end": end})
    return [(r.project_id, r.currency, r.amount) for r in rows]
