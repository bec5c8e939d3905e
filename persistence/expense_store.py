"""Re-billable expenses as billing reads them: what is approved and not yet billed, and the approval claim.

As for time (``persistence/time_store.py``), "billed" is read from what approved invoices were rated on: an
expense is billed when an approved invoice of its client lists it in its stored ``inputs.expenses`` *in the
invoice's currency* (one in another currency is listed so the invoice can name it, but is not billed). So a
rejected or superseded draft claims nothing, and a retried approval cannot claim twice.

Rows of :func:`unbilled_approved_expenses` carry exactly the fields of ``billing.inputs.ExpenseEntry``, so
``msgspec.convert(msgspec.to_builtins(row), billing.ExpenseEntry)`` works as is.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.currencies import is_currency, minor_units

# Expense ids an approved invoice has billed (add ``AND i.client_id = …`` to narrow it to one client).
BILLED_EXPENSE_IDS_SQL = """
  SELECT DISTINCT x ->> 'id' AS id
  FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.inputs -> 'expenses') AS x
  WHERE i.status = 'approved' AND x ->> 'currency' = i.currency
"""


class ApprovedExpense(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project: str
    spent_on: date
    category: str
    description: str
    amount: Decimal  # the billable amount: amount x (1 + markup), in ``currency``'s minor unit
    currency: str
    approved_on: date | None = None


_UNBILLED = text(
    """
    WITH billed AS MATERIALIZED ("""
    + BILLED_EXPENSE_IDS_SQL
    + """ AND i.client_id = :client_id)
    SELECT x.id, p.code AS project, x.spent_on, x.category, x.description, x.billable_amount, x.currency,
           (x.decided_at AT TIME ZONE c.timezone)::date AS approved_on
    FROM expenses x
    JOIN projects p ON p.id = x.project_id
    JOIN clients c ON c.id = p.client_id
    WHERE p.client_id = :client_id AND x.status = 'approved' AND x.billable AND x.billable_amount > 0
      AND x.spent_on >= :start AND x.spent_on <= :end
      AND NOT EXISTS (SELECT 1 FROM billed b WHERE b.id = x.id::text)
    ORDER BY x.spent_on, p.code, x.id
    """
)


def _in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """The stored ``numeric(14, 4)`` (``383.3300``) at the currency's exponent (``383.33``), which it already
    fits: billable amounts are rounded to the minor unit when an expense is written."""
    if not is_currency(currency):
        return amount
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


async def unbilled_approved_expenses(
    session: AsyncSession, client_id: uuid.UUID, start_date: date, end_date: date
) -> list[ApprovedExpense]:
    """Approved re-billable expenses of ``client_id``'s projects spent ``start_date``..``end_date`` that no
    approved invoice has billed yet — what the next invoice must bill, including expenses of periods that
    were already invoiced when the expense was approved (billed on a late line). ``approved_on`` is the
    client-local date of the approval."""
    rows = await session.execute(_UNBILLED, {"client_id": client_id, "start": start_date, "end": end_date})
    return [
        ApprovedExpense(
            id=str(r.id),
            project=r.project,
            spent_on=r.spent_on,
            category=r.category,
            description=r.description,
            amount=_in_minor_units(r.billable_amount, r.currency),
            currency=r.currency,
            approved_on=r.approved_on,
        )
        for r in rows
    ]


class ExpenseClaimProblem(msgspec.Struct, frozen=True, kw_only=True):
    expense_id: str
    reason: str


_CLAIM_CHECK = text(
    """
    WITH billed AS MATERIALIZED (
      SELECT x ->> 'id' AS id, i.number
      FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.inputs -> 'expenses') AS x
      WHERE i.status = 'approved' AND x ->> 'currency' = i.currency
        AND i.client_id = :client_id AND i.id <> :invoice_id
    ),
    wanted AS (SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:amounts AS numeric[])) AS w(id, amount))
    SELECT w.id, w.amount AS billed_amount, x.status, x.billable, x.billable_amount, b.number
    FROM wanted w
    LEFT JOIN expenses x ON x.id::text = w.id
    LEFT JOIN billed b ON b.id = w.id
    WHERE x.id IS NULL OR x.status <> 'approved' OR NOT x.billable OR x.billable_amount <> w.amount
       OR b.id IS NOT NULL
    ORDER BY w.id
    """
)


async def expense_claim_problems(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    invoice_id: uuid.UUID,
    expenses: list[tuple[str, Decimal]],
) -> list[ExpenseClaimProblem]:
    """Why an invoice rated on ``expenses`` (id, billed amount; only those in the invoice's currency) may not
    be approved as it stands: one another approved invoice already billed, or one deleted, no longer approved
    or re-billable, or whose billable amount changed since the draft was rated. Run under a lock on the
    invoice row; the caller refuses the approval and a redraft gathers the expenses as they are now."""
    if not expenses:
        return []
    rows = await session.execute(
        _CLAIM_CHECK,
        {
            "client_id": client_id,
            "invoice_id": invoice_id,
            "ids": [x for x, _ in expenses],
            "amounts": [a for _, a in expenses],
        },
    )
    problems = []
    for r in rows:
        if r.number is not None:
            reason = f"already billed on invoice {r.number}"
        elif r.status is None:
            reason = "deleted since the draft"
        elif r.status != "approved":
            reason = f"{r.status} since the draft"
        elif not r.billable:
            reason = "no longer re-billable"
        else:
            reason = f"changed since the draft ({r.billed_amount} -> {r.billable_amount})"
        problems.append(ExpenseClaimProblem(expense_id=r.id, reason=reason))
    return problems
