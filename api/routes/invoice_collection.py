"""Collecting issued invoices: send with the PDF, record payments, void, and the org's collection policy.

The rules live in ``persistence.collections`` (which this module only calls); overdue and dunning run in the
invoice's collection workflow. Every route takes the invoice through ``api.routes.invoices._invoice``, so a
client viewer, a scoped member or another tenant finds only what it may (404 otherwise).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, get, post, put
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from api import validators
from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for
from api.idempotency import json_response
from api.problems import Conflict, FieldError, ValidationFailed
from api.routes.auth import Email, MailUnavailable, mailer
from api.routes.invoice_documents import PDF, stored_pdf
from api.routes.invoices import InvoiceOut, _invoice, _out
from identity.mailer import Attachment, MailError
from persistence import collections
from persistence.models import CollectionPolicy, InvoicePayment, Org
from persistence.models.collection import DEFAULT_REMINDER_DAYS, DEFAULT_TERMS_DAYS

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Method = Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{1,32}$")]
Days = Annotated[int, msgspec.Meta(ge=0, le=365)]


class SendBody(msgspec.Struct, forbid_unknown_fields=True):
    to: Annotated[list[Email], msgspec.Meta(min_length=1, max_length=20)]
    message: Annotated[str, msgspec.Meta(max_length=5000)] = ""


class PaymentBody(msgspec.Struct, forbid_unknown_fields=True):
    amount: Decimal
    received_on: date
    reference: Reference
    """The bank or accounting reference: recording the same reference again answers the first payment."""
    method: Method = "transfer"

    __field_checks__: ClassVar = {"amount": validators.decimal_between(Decimal(0), None, "amount")}


class VoidBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class PaymentOut(msgspec.Struct):
    id: uuid.UUID
    invoice_id: uuid.UUID
    amount: Decimal
    currency: str
    received_on: date
    reference: str
    method: str
    source: str
    recorded_by: str
    created_at: datetime


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    payment_terms_days: Days
    reminder_days: Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=365)]], msgspec.Meta(max_length=10)]
    """Days after the due date on which an unpaid invoice is reminded (overdue is marked the day after it)."""


class PolicyOut(msgspec.Struct):
    payment_terms_days: int
    reminder_days: list[int]
    version: int


def _problem(exc: collections.CollectionError) -> Exception:
    if exc.pointer is not None:
        return ValidationFailed(exc.detail, errors=[FieldError(pointer=exc.pointer, detail=exc.detail)])
    return Conflict(exc.detail)


@post(
    "/invoices/{invoice_id:uuid}/send",
    opt={"action": "invoices.collect"},
    dto=Body[SendBody],
    return_dto=None,
    status_code=200,
    summary="Email the invoice with its PDF attached (outbox folder without SMTP); marks it sent",
)
async def send_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: SendBody) -> Response[InvoiceOut]:
    row = await _invoice(ctx, invoice_id)
    if row.status != "approved":
        raise Conflict(f"invoice {row.id} is {row.status}: only an approved invoice is sent")
    now = datetime.now(UTC)
    try:
        row = await collections.mark_sent(ctx.session, row.id, to=list(data.to), actor=ctx.principal.actor, now=now)
    except collections.CollectionError as exc:
        raise _problem(exc) from None
    pdf, digest = await stored_pdf(ctx, row)
    org_name = (await ctx.session.execute(select(Org.name))).scalar_one()
    name = re.sub(r"[^A-Za-z0-9._-]", "_", row.number or str(row.id))
    subject = f"Invoice {row.number} from {org_name}"
    due = f", due {row.due_date.isoformat()}" if row.due_date else ""
    body = (data.message + "\n\n" if data.message else "") + (
        f"Please find attached invoice {row.number} for {row.period}: {row.total} {row.currency}{due}.\n"
        f"SHA-256 of the attached PDF: {digest}\n"
    )
    attachment = Attachment(filename=f"{name}.pdf", media_type=PDF, content=pdf)
    # Mail before commit: if the server is down nothing is marked sent, and the caller gets 503.
    try:
        sender = mailer(ctx.request.app.state.settings)
        for recipient in data.to:
            await sender.send(to=recipient, subject=subject, body=body, attachments=(attachment,))
    except MailError as exc:
        raise MailUnavailable(str(exc)) from exc
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@post(
    "/invoices/{invoice_id:uuid}/payments",
    opt={"action": "invoices.collect"},
    dto=Body[PaymentBody],
    return_dto=None,
    status_code=201,
    summary="Record a payment received (partially paid / paid); the same reference again answers the first",
)
async def record_payment(ctx: Ctx, invoice_id: uuid.UUID, data: PaymentBody) -> Response[PaymentOut]:
    row = await _invoice(ctx, invoice_id)
    try:
        payment, _, created = await collections.record_payment(
            ctx.session,
            row.id,
            amount=data.amount,
            received_on=data.received_on,
            reference=data.reference,
            method=data.method,
            source="api",
            actor=ctx.principal.actor,
            now=datetime.now(UTC),
        )
    except collections.CollectionError as exc:
        raise _problem(exc) from None
    out = msgspec.convert(payment, PaymentOut, from_attributes=True)
    headers = {"Location": f"/v1/invoices/{row.id}/payments"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201 if created else 200, out, headers)  # type: ignore[return-value]


@get("/invoices/{invoice_id:uuid}/payments", opt={"action": "invoices.read"}, summary="Payments on an invoice")
async def list_payments(ctx: Ctx, invoice_id: uuid.UUID) -> list[PaymentOut]:
    row = await _invoice(ctx, invoice_id)
    query = select(InvoicePayment).where(InvoicePayment.invoice_id == row.id).order_by(InvoicePayment.created_at)
    payments = (await ctx.session.execute(query)).scalars().all()
    await ctx.audit("invoice.payments.read", "invoice", row.id)
    return [msgspec.convert(p, PaymentOut, from_attributes=True) for p in payments]


@post(
    "/invoices/{invoice_id:uuid}/void",
    opt={"action": "invoices.void"},
    dto=Body[VoidBody],
    return_dto=None,
    status_code=200,
    summary="Void an issued invoice nothing was paid on (reason required)",
)
async def void_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: VoidBody) -> Response[InvoiceOut]:
    row = await _invoice(ctx, invoice_id)
    check_if_match(ctx.request, row.version)
    try:
        row = await collections.void(
            ctx.session, row.id, reason=data.reason, actor=ctx.principal.actor, now=datetime.now(UTC)
        )
    except collections.CollectionError as exc:
        raise _problem(exc) from None
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


async def _policy(ctx: Ctx) -> CollectionPolicy | None:
    return (await ctx.session.execute(select(CollectionPolicy))).scalar_one_or_none()


def _policy_out(row: CollectionPolicy | None) -> PolicyOut:
    if row is None:
        return PolicyOut(payment_terms_days=DEFAULT_TERMS_DAYS, reminder_days=list(DEFAULT_REMINDER_DAYS), version=0)
    return PolicyOut(
        payment_terms_days=row.payment_terms_days, reminder_days=list(row.reminder_days), version=row.version
    )


@get("/org/collection-policy", opt={"action": "collections.read"}, summary="Payment terms and reminder days")
async def get_policy(ctx: Ctx) -> Response[PolicyOut]:
    row = await _policy(ctx)
    return json_response(200, _policy_out(row), {"ETag": etag_for(row.version if row else 0)})  # type: ignore[return-value]


@put(
    "/org/collection-policy",
    opt={"action": "collections.write"},
    dto=Body[PolicyIn],
    return_dto=None,
    summary="Set the org's default payment terms and dunning schedule (clients may override the terms)",
)
async def put_policy(ctx: Ctx, data: PolicyIn) -> Response[PolicyOut]:
    if len(set(data.reminder_days)) != len(data.reminder_days):
        raise ValidationFailed(
            "reminder days repeat", errors=[FieldError(pointer="/reminder_days", detail="lists a day twice")]
        )
    before = _policy_out(await _policy(ctx))
    check_if_match(ctx.request, before.version)
    days = sorted(data.reminder_days)
    await ctx.session.execute(
        insert(CollectionPolicy)
        .values(org_id=ctx.org_id, payment_terms_days=data.payment_terms_days, reminder_days=days)
        .on_conflict_do_update(
            index_elements=["org_id"],
            set_={
                "payment_terms_days": data.payment_terms_days,
                "reminder_days": days,
                "version": CollectionPolicy.version + 1,
                "updated_at": datetime.now(UTC),
            },
        )
    )
    ctx.session.expire_all()
    after = _policy_out(await _policy(ctx))
    await ctx.audit(
        "collection_policy.update",
        "org",
        ctx.org_id,
        before=msgspec.to_builtins(before),
        after=msgspec.to_builtins(after),
    )
    return json_response(200, after, {"ETag": etag_for(after.version)})  # type: ignore[return-value]


ROUTES = [send_invoice, record_payment, list_payments, void_invoice, get_policy, put_policy]
