"""Issuing credit notes: the engine says what is taken back (``billing.credit_notes``), this module keeps it.

In one transaction, with the invoice row locked so two notes on one invoice cannot both take the same money
back: what earlier notes took back is read, the engine rates the new one, it gets the next number of the
org's CN-<year> series (gapless: the counter moves in this transaction), the invoice's ``amount_credited``
grows (settling it when nothing is left to pay), and the issue is audited and announced. The original
invoice is never edited otherwise. Its ledger reversal is posted by ``workflows.credit_note_ledger``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import billing
from billing.credit_notes import CreditNoteDraft
from core.ids import new_id
from persistence import audit, collections, finance_events, revenue
from persistence.models import CreditNote, Invoice


async def credited_so_far(session: AsyncSession, invoice_id: uuid.UUID) -> billing.Credited:
    lines: dict[int, Decimal] = defaultdict(Decimal)
    tax: dict[str, Decimal] = defaultdict(Decimal)
    notes = (await session.execute(select(CreditNote.document).where(CreditNote.invoice_id == invoice_id))).scalars()
    for document in notes:
        note = msgspec.convert(document, CreditNoteDraft, strict=False)
        for line in note.lines:
            lines[line.line] += line.amount
        for rate in note.tax:
            tax[rate.rate_id] += rate.amount
    return billing.Credited(lines=dict(lines), tax=dict(tax))


async def _next_number(session: AsyncSession, org_id: uuid.UUID, year: int) -> str:
    number = (
        await session.execute(
            text(
                "INSERT INTO credit_note_sequences (org_id, year, last_number) VALUES (:org, :year, 1) "
                "ON CONFLICT (org_id, year) DO UPDATE SET last_number = credit_note_sequences.last_number + 1 "
                "RETURNING last_number"
            ),
            {"org": org_id, "year": year},
        )
    ).scalar_one()
    return f"CN-{year}-{number:05d}"


async def issue_credit_note(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    request: billing.CreditRequest,
    reason: str,
    actor: audit.Actor,
    issue_date: date,
) -> CreditNote:
    """Raises ``LookupError`` for no such invoice, ``collections.CollectionError`` when the invoice cannot be
    credited, and ``billing.CreditRefused`` (naming the field) when the request cannot."""
    invoice = (
        await session.execute(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    ).scalar_one_or_none()
    if invoice is None:
        raise LookupError(invoice_id)
    if invoice.status != "approved" or invoice.collection is None:
        raise collections.CollectionError(
            f"invoice {invoice.id} is {invoice.status}: only an issued invoice is credited"
        )
    if invoice.collection == "void":
        raise collections.CollectionError(f"invoice {invoice.number} is void: there is nothing to credit")
    draft = msgspec.convert(invoice.draft, billing.InvoiceDraft, strict=False)
    note = billing.credit_note(draft, await credited_so_far(session, invoice.id), request)
    row = CreditNote(
        id=new_id(),
        org_id=invoice.org_id,
        invoice_id=invoice.id,
        client_id=invoice.client_id,
        number=await _next_number(session, invoice.org_id, issue_date.year),
        issue_date=issue_date,
        reason=reason,
        mode=request.mode,
        currency=note.currency,
        subtotal=note.subtotal,
        tax=note.tax_total,
        total=note.total,
        document=billing.to_builtins(note),
        created_by=actor.id,
        created_by_user=actor.user_id,
    )
    session.add(row)
    before = {"collection": invoice.collection, "amount_credited": str(invoice.amount_credited)}
    invoice.amount_credited = invoice.amount_credited + note.total
    collections.settle_after_credit(invoice)
    await session.flush()
    await revenue.record_credit_note(session, invoice, row)
    await audit.record(
        session,
        org_id=invoice.org_id,
        actor=actor,
        action="credit_note.issue",
        entity_type="credit_note",
        entity_id=row.id,
        after={"number": row.number, "invoice_id": str(invoice.id), "total": str(row.total)},
        detail={"invoice": invoice.number, "reason": reason, "mode": request.mode},
    )
    await audit.record(
        session,
        org_id=invoice.org_id,
        actor=actor,
        action="invoice.credit",
        entity_type="invoice",
        entity_id=invoice.id,
        before=before,
        after={"collection": invoice.collection, "amount_credited": str(invoice.amount_credited)},
        detail={"credit_note": row.number, "total": str(row.total)},
    )
    await finance_events.emit_invoice_event(
        session, invoice.org_id, finance_events.INVOICE_CREDITED, invoice.id, occurrence=str(row.id)
    )
    return row
