"""Collecting an issued invoice: due date, sending, payments, overdue, dunning reminders, void.

One module owns every change to an invoice's ``collection`` state, so the rules live in one place: approval
issues (``issue``), sending marks it sent, payments move it to partially paid and paid, the collection
workflow marks it overdue and reminds on the org's schedule, and only an unpaid invoice is voided. Each
change is audited and announced to webhooks in the transaction that makes it (``finance_events``), and
every function is safe to repeat: a payment by its reference, the workflow's steps by their dedupe keys.

Money here is only compared and added (no rating): ``amount_paid`` is the exact sum of the payments.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.currencies import minor_units
from core.ids import new_id
from persistence import audit, finance_events
from persistence.models import Client, CollectionPolicy, Invoice, InvoicePayment, Notification
from persistence.models.collection import DEFAULT_REMINDER_DAYS, DEFAULT_TERMS_DAYS

OPEN = frozenset({"issued", "sent", "partially_paid"})
"""Collection states that still expect money (and so reminders)."""


class CollectionError(Exception):
    """A change the invoice's state does not allow (409), or a bad value (422 at ``pointer``)."""

    def __init__(self, detail: str, *, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


@dataclass(frozen=True, slots=True)
class Terms:
    payment_terms_days: int
    reminder_days: tuple[int, ...]


def balance_due(invoice: Invoice) -> Decimal:
    """What the client still owes: the total less payments and credit notes (negative: a refund is owed)."""
    return invoice.total - invoice.amount_paid - invoice.amount_credited


def settle_after_credit(invoice: Invoice) -> None:
    """A credit note took back ``amount_credited``: nothing left to pay settles the invoice."""
    if invoice.collection in OPEN and balance_due(invoice) <= 0:
        invoice.collection = "paid" if invoice.amount_paid > 0 else "credited"


async def org_terms(session: AsyncSession) -> Terms:
    row = (await session.execute(select(CollectionPolicy))).scalar_one_or_none()
    if row is None:
        return Terms(DEFAULT_TERMS_DAYS, DEFAULT_REMINDER_DAYS)
    return Terms(row.payment_terms_days, tuple(sorted(set(row.reminder_days))))


async def issue(session: AsyncSession, invoice: Invoice, client: Client, issue_date: date) -> None:
    """Called by approval, in its transaction: the issue date and the due date from the client's terms."""
    terms = client.payment_terms_days
    if terms is None:
        terms = (await org_terms(session)).payment_terms_days
    invoice.collection = "issued"
    invoice.issue_date = issue_date
    invoice.due_date = issue_date + timedelta(days=terms)


async def _locked(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    invoice = (
        await session.execute(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    ).scalar_one_or_none()
    if invoice is None:
        raise LookupError(invoice_id)
    return invoice


def _require_issued(invoice: Invoice) -> None:
    if invoice.status != "approved" or invoice.collection is None:
        raise CollectionError(
            f"invoice {invoice.id} is {invoice.status}: only an approved (issued) invoice is collected"
        )


def _state(invoice: Invoice) -> dict[str, str | None]:
    return {
        "collection": invoice.collection,
        "amount_paid": str(invoice.amount_paid),
        "overdue_since": invoice.overdue_since.isoformat() if invoice.overdue_since else None,
    }


async def mark_sent(
    session: AsyncSession, invoice_id: uuid.UUID, *, to: list[str], actor: audit.Actor, now: datetime
) -> Invoice:
    invoice = await _locked(session, invoice_id)
    _require_issued(invoice)
    if invoice.collection == "void":
        raise CollectionError(f"invoice {invoice.number} is void and cannot be sent")
    before = _state(invoice)
    invoice.sent_at = now
    invoice.sent_to = sorted(set(invoice.sent_to) | set(to))
    if invoice.collection == "issued":
        invoice.collection = "sent"
    await session.flush()
    await _audit(session, invoice, actor, "invoice.send", before, {"to": to})
    await finance_events.emit_invoice_event(
        session, invoice.org_id, finance_events.INVOICE_SENT, invoice.id, occurrence=now.isoformat()
    )
    return invoice


async def record_payment(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    amount: Decimal,
    received_on: date,
    reference: str,
    method: str,
    source: str,
    actor: audit.Actor,
    now: datetime,
) -> tuple[InvoicePayment, Invoice, bool]:
    """Record money received. The same reference again answers the first payment (``created`` False) if it
    agrees, and is refused if it does not; a payment beyond the balance is refused, as is one with more
    decimals than the currency has."""
    invoice = await _locked(session, invoice_id)
    _require_issued(invoice)
    existing = (
        await session.execute(select(InvoicePayment).where(InvoicePayment.reference == reference))
    ).scalar_one_or_none()
    if existing is not None and existing.invoice_id == invoice.id:
        if existing.amount != amount or existing.received_on != received_on:
            raise CollectionError(
                f"reference {reference!r} was already recorded for {existing.amount} on {existing.received_on}",
                pointer="/reference",
            )
        return existing, invoice, False
    if invoice.collection == "void":
        raise CollectionError(f"invoice {invoice.number} is void")
    if amount <= 0 or not amount.is_finite():
        raise CollectionError("must be a positive amount", pointer="/amount")
    exponent = minor_units(invoice.currency)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        raise CollectionError(f"{invoice.currency} has {exponent} decimal places", pointer="/amount")
    balance = balance_due(invoice)
    if amount > balance:
        raise CollectionError(f"exceeds the balance due of {balance} {invoice.currency}", pointer="/amount")
    before = _state(invoice)
    payment = InvoicePayment(
        id=new_id(),
        org_id=invoice.org_id,
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        received_on=received_on,
        reference=reference,
        method=method,
        source=source,
        recorded_by=actor.id,
    )
    session.add(payment)
    invoice.amount_paid = invoice.amount_paid + amount
    paid = balance_due(invoice) == 0
    invoice.collection = "paid" if paid else "partially_paid"
    if paid:
        invoice.paid_at = now
    await session.flush()
    detail = {"payment_id": str(payment.id), "amount": str(amount), "reference": reference, "source": source}
    await _audit(session, invoice, actor, "invoice.payment", before, detail)
    await finance_events.emit_invoice_event(
        session, invoice.org_id, finance_events.INVOICE_PAYMENT, invoice.id, occurrence=str(payment.id)
    )
    if paid:
        await finance_events.emit_invoice_event(session, invoice.org_id, finance_events.INVOICE_PAID, invoice.id)
    return payment, invoice, True


async def void(
    session: AsyncSession, invoice_id: uuid.UUID, *, reason: str, actor: audit.Actor, now: datetime
) -> Invoice:
    """Only an invoice nothing was paid on; voiding twice answers the first."""
    invoice = await _locked(session, invoice_id)
    _require_issued(invoice)
    if invoice.collection == "void":
        return invoice
    if invoice.amount_paid > 0:
        raise CollectionError(
            f"invoice {invoice.number} has {invoice.amount_paid} {invoice.currency} paid on it and cannot be voided"
        )
    if invoice.amount_credited > 0:
        raise CollectionError(f"invoice {invoice.number} has credit notes; credit what is left instead of voiding")
    before = _state(invoice)
    invoice.collection = "void"
    invoice.voided_at = now
    invoice.void_reason = reason
    await session.flush()
    await _audit(session, invoice, actor, "invoice.void", before, {"reason": reason})
    await finance_events.emit_invoice_event(session, invoice.org_id, finance_events.INVOICE_VOIDED, invoice.id)
    return invoice


async def mark_overdue(session: AsyncSession, invoice_id: uuid.UUID, *, as_of: date) -> bool:
    """The collection workflow, the day after the due date: still open → overdue. Returns whether it is."""
    invoice = await _locked(session, invoice_id)
    if invoice.collection not in OPEN:
        return False
    if invoice.overdue_since is None:
        before = _state(invoice)
        invoice.overdue_since = as_of
        await session.flush()
        await _audit(session, invoice, audit.SYSTEM, "invoice.overdue", before, {"due_date": str(invoice.due_date)})
        await _notify(session, invoice, f"overdue/{invoice.id}", "overdue", f"invoice {invoice.number} is overdue")
        await finance_events.emit_invoice_event(session, invoice.org_id, finance_events.INVOICE_OVERDUE, invoice.id)
    return True


async def remind(session: AsyncSession, invoice_id: uuid.UUID, *, step: int, days: int) -> bool:
    """Dunning step ``step`` (``days`` after the due date), once; returns whether the invoice is still open."""
    invoice = await _locked(session, invoice_id)
    if invoice.collection not in OPEN:
        return False
    balance = balance_due(invoice)
    message = f"reminder {step}: invoice {invoice.number} is {days} days overdue, {balance} {invoice.currency} due"
    if await _notify(session, invoice, f"dunning/{invoice.id}/{step}", "dunning", message):
        detail = {"step": step, "days_after_due": days, "balance": str(balance)}
        await _audit(session, invoice, audit.SYSTEM, "invoice.dunning", None, detail)
        await finance_events.emit_invoice_event(
            session, invoice.org_id, finance_events.INVOICE_DUNNING, invoice.id, occurrence=str(step)
        )
    return True


async def _notify(session: AsyncSession, invoice: Invoice, key: str, kind: str, message: str) -> bool:
    """A finance notification, once per key; returns whether this call wrote it."""
    written = await session.execute(
        pg_insert(Notification)
        .values(
            id=new_id(),
            org_id=invoice.org_id,
            dedupe_key=key,
            kind=kind,
            recipient_role="finance",
            invoice_id=invoice.id,
            message=message,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"])
        .returning(Notification.id)
    )
    return written.first() is not None


async def _audit(
    session: AsyncSession,
    invoice: Invoice,
    actor: audit.Actor,
    action: str,
    before: dict[str, str | None] | None,
    detail: Mapping[str, object],
) -> None:
    await audit.record(
        session,
        org_id=invoice.org_id,
        actor=actor,
        action=action,
        entity_type="invoice",
        entity_id=invoice.id,
        before=before,
        after=_state(invoice),
        detail=dict(detail),
    )
