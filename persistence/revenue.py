"""The revenue schedule kept and read: rows written when an invoice or credit note is issued, sums for the
revenue report and for profitability. The rules of *when* revenue is earned live in ``billing.recognition``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import billing
from billing.credit_notes import CreditNoteDraft
from billing.recognition import Earned, Entry, reversal, schedule
from core.ids import new_id
from persistence.models import CreditNote, Invoice, RevenueEntry


def _rows(
    invoice: Invoice, earned: list[Earned], issued_on: date, credit_note_id: uuid.UUID | None
) -> list[RevenueEntry]:
    return [
        RevenueEntry(
            id=new_id(),
            org_id=invoice.org_id,
            client_id=invoice.client_id,
            invoice_id=invoice.id,
            credit_note_id=credit_note_id,
            line=e.line,
            key=e.key,
            kind=e.kind,
            month=e.month,
            amount=e.amount,
            currency=invoice.currency,
            issued_on=issued_on,
        )
        for e in earned
    ]


async def record_invoice(session: AsyncSession, invoice: Invoice, issued_on: date) -> None:
    """In the approving transaction: the invoice's lines in the months they are earned."""
    draft = msgspec.convert(invoice.draft, billing.InvoiceDraft, strict=False)
    session.add_all(_rows(invoice, schedule(draft), issued_on, None))


async def record_credit_note(session: AsyncSession, invoice: Invoice, note: CreditNote) -> None:
    """In the issuing transaction: the credit note's reversal, where the credited lines were earned."""
    query = select(RevenueEntry).where(RevenueEntry.invoice_id == invoice.id, RevenueEntry.credit_note_id.is_(None))
    earned = [
        Earned(line=r.line, key=r.key, kind=r.kind, month=r.month, amount=r.amount)
        for r in (await session.execute(query)).scalars()
    ]
    draft = msgspec.convert(note.document, CreditNoteDraft, strict=False)
    session.add_all(_rows(invoice, reversal(earned, draft), note.issue_date, note.id))


# Rows of invoices that still stand (a voided invoice earns nothing).
_LIVE = """
    FROM revenue_schedule r
    JOIN invoices i ON i.id = r.invoice_id AND i.collection IS DISTINCT FROM 'void'
"""
_ENTRIES = text(
    "SELECT r.client_id, r.currency, r.month, to_char(r.issued_on, 'YYYY-MM') AS issued, sum(r.amount) AS amount"
    + _LIVE
    + "WHERE to_char(r.issued_on, 'YYYY-MM') <= :to "
    "GROUP BY r.client_id, r.currency, r.month, issued"
)
_BY_CLIENT = text(
    "SELECT r.client_id, r.currency, sum(r.amount) AS amount"
    + _LIVE
    + "WHERE r.month BETWEEN to_char(CAST(:start AS date), 'YYYY-MM') AND to_char(CAST(:end AS date), 'YYYY-MM') "
    "GROUP BY r.client_id, r.currency"
)
_BY_PROJECT = text(
    "SELECT p.id AS project_id, r.currency, sum(r.amount) AS amount"
    + _LIVE
    + "CROSS JOIN LATERAL (SELECT regexp_replace(r.key, '^late[|][^|]*[|]', '') AS key) AS k "
    "JOIN projects p ON p.client_id = r.client_id AND p.code = split_part(k.key, '|', 2) "
    "WHERE r.month BETWEEN to_char(CAST(:start AS date), 'YYYY-MM') AND to_char(CAST(:end AS date), 'YYYY-MM') "
    "AND split_part(k.key, '|', 1) IN ('services', 'nte', 'expenses') "
    "GROUP BY p.id, r.currency"
)


async def entries(session: AsyncSession, to_month: str) -> dict[tuple[uuid.UUID, str], list[Entry]]:
    """Every schedule row issued by the end of ``to_month``, per client and currency."""
    out: dict[tuple[uuid.UUID, str], list[Entry]] = defaultdict(list)
    for r in await session.execute(_ENTRIES, {"to": to_month}):
        out[(r.client_id, r.currency)].append(Entry(month=r.month, issued=r.issued, amount=r.amount))
    return dict(out)


async def recognised_by_client(session: AsyncSession, start: date, end: date) -> dict[tuple[uuid.UUID, str], Decimal]:
    """Net revenue earned in the months of [start, end] per client and currency (credit notes taken off)."""
    rows = await session.execute(_BY_CLIENT, {"start": start, "end": end})
    return {(r.client_id, r.currency): r.amount for r in rows}


async def recognised_by_project(
    session: AsyncSession, start: date, end: date
) -> Iterable[tuple[uuid.UUID, str, Decimal]]:
    """The time-and-materials part of it, by the project each line billed."""
    rows = await session.execute(_BY_PROJECT, {"start": start, "end": end})
    return [(r.project_id, r.currency, r.amount) for r in rows]
