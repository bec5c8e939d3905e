"""Credit notes: take back all or part of an issued invoice, by line or by amount, with a reason.

The engine decides what is taken back (``billing.credit_notes``), ``persistence.credit_notes`` keeps it and
numbers it (CN-<year>-<n>, gapless per org); this module only checks who asks and answers. A credit note is a
money decision (a person, with a recent second factor in a browser) and is posted to the ledger as a reversal
by its own workflow, started here and idempotent on the credit note's id. The original invoice is never edited:
its ``amount_credited`` grows and what is left to pay shrinks.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.params import FromQuery
from sqlalchemy import select

import billing
from api.context import Ctx
from api.dto import Body
from api.engagements import temporal
from api.idempotency import idempotent_create, json_response
from api.member_scope import client_reach
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, ValidationFailed, not_found
from api.routes.invoices import _invoice
from persistence import collections
from persistence.credit_notes import issue_credit_note
from persistence.models import CreditNote
from workflows import names

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class CreditLineIn(msgspec.Struct, forbid_unknown_fields=True):
    line: Annotated[int, msgspec.Meta(ge=0)]
    """Index into the invoice's ``draft.lines``."""
    amount: Decimal | None = None
    """Net amount to take back from the line; omitted: all that is left of it."""


class CreditNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    mode: Literal["full", "lines", "amount"]
    lines: Annotated[list[CreditLineIn], msgspec.Meta(max_length=500)] = msgspec.field(default_factory=list)
    amount: Decimal | None = None
    """For ``amount``: the net amount, spread over the invoice's positive lines in proportion to what is left."""


class CreditNoteOut(msgspec.Struct):
    id: uuid.UUID
    invoice_id: uuid.UUID
    client_id: uuid.UUID
    number: str
    issue_date: date
    reason: str
    mode: str
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    document: dict[str, Any]
    """Lines (each with the invoice line it credits) and tax per rate, as the engine worked them out."""
    created_by: str
    created_at: datetime
    ledger_status: str


def _out(row: CreditNote) -> CreditNoteOut:
    return msgspec.convert(row, CreditNoteOut, from_attributes=True)


@post(
    "/invoices/{invoice_id:uuid}/credit-notes",
    opt={"action": "credit_notes.write"},
    dto=Body[CreditNoteIn],
    return_dto=None,
    status_code=201,
    summary="Issue a credit note against an issued invoice (full, by line or by amount)",
)
async def create_credit_note(ctx: Ctx, invoice_id: uuid.UUID, data: CreditNoteIn) -> Response[CreditNoteOut]:
    invoice = await _invoice(ctx, invoice_id)

    async def create() -> tuple[int, object, dict[str, str]]:
        request = billing.CreditRequest(
            mode=data.mode,
            lines=[billing.credit_notes.LineRequest(line=item.line, amount=item.amount) for item in data.lines],
            amount=data.amount,
        )
        try:
            row = await issue_credit_note(
                ctx.session,
                invoice.id,
                request=request,
                reason=data.reason,
                actor=ctx.principal.actor,
                issue_date=datetime.now(UTC).date(),
            )
        except billing.CreditRefused as exc:
            raise ValidationFailed(exc.detail, errors=[FieldError(pointer=exc.pointer, detail=exc.detail)]) from None
        except collections.CollectionError as exc:
            raise Conflict(exc.detail) from None
        await (await temporal(ctx)).start_workflow(
            names.CREDIT_NOTE_LEDGER_WORKFLOW,
            args=[str(ctx.org_id), str(row.id)],
            id=names.credit_note_ledger_id(ctx.org_id, row.id),
            task_queue=ctx.request.app.state.settings.task_queue,
        )
        return 201, _out(row), {"Location": f"/v1/credit-notes/{row.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


def _visible(ctx: Ctx, query: Any) -> Any:
    clients = client_reach(ctx)
    return query if clients is None else query.where(CreditNote.client_id.in_(clients))


@get("/credit-notes", opt={"action": "invoices.read"}, summary="List credit notes (newest last)")
async def list_credit_notes(
    ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, invoice_id: FromQuery[uuid.UUID | None] = None
) -> Page[CreditNoteOut]:
    query = _visible(ctx, select(CreditNote))
    if invoice_id is not None:
        query = query.where(CreditNote.invoice_id == invoice_id)
    rows = (await ctx.session.execute(paginate(query, CreditNote.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    await ctx.audit("credit_note.list", "credit_note", None, detail={"count": len(items)})
    return Page(items=[_out(row) for row in items], next_cursor=next_cursor)


@get("/credit-notes/{credit_note_id:uuid}", opt={"action": "invoices.read"}, summary="A credit note")
async def get_credit_note(ctx: Ctx, credit_note_id: uuid.UUID) -> Response[CreditNoteOut]:
    row = (
        await ctx.session.execute(_visible(ctx, select(CreditNote).where(CreditNote.id == credit_note_id)))
    ).scalar_one_or_none()
    if row is None:
        raise not_found("credit note", credit_note_id)
    await ctx.audit("credit_note.read", "credit_note", row.id)
    return json_response(200, _out(row))  # type: ignore[return-value]


ROUTES = [create_credit_note, list_credit_notes, get_credit_note]
