"""Invoices: read (with lines and traces; every read is audited), and finance's decisions, which go to the
billing-cycle workflow as Updates — a stale or repeated decision is a 409, never a second invoice."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.params import FromQuery
from sqlalchemy import select
from temporalio.common import WorkflowIDReusePolicy

from api.context import Ctx
from api.dto import Body
from api.engagements import temporal, update
from api.etags import check_if_match, etag_for
from api.idempotency import json_response
from api.member_scope import client_reach
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, not_found
from core.permissions import Role
from persistence.models import Invoice, LedgerPosting, Notification
from workflows import names
from workflows.inputs import Adjustment, Decision, DecisionOutcome, LedgerSyncInput

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class InvoiceSummary(msgspec.Struct):
    id: uuid.UUID
    client_id: uuid.UUID
    contract_id: uuid.UUID
    period: str
    revision: int
    status: str
    number: str | None
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    version: int
    created_at: datetime
    decided_at: datetime | None
    collection: str | None
    """Once approved: issued, sent, partially_paid, paid or void (``persistence.collections``)."""
    issue_date: date | None
    due_date: date | None
    amount_paid: Decimal
    amount_credited: Decimal
    """The sum of its credit notes; the client owes total - amount_paid - amount_credited."""
    overdue_since: date | None
    sent_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None


class InvoiceOut(InvoiceSummary):
    draft: dict[str, Any]
    adjustments: list[dict[str, Any]]
    reconciliation: dict[str, Any] | None
    decided_by: str | None
    decision_reason: str | None


class ApproveBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class RejectBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class AdjustmentIn(msgspec.Struct, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    amount: Decimal
    site: str | None = None
    tax_rate: str | None = None


class AdjustBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    adjustments: Annotated[list[AdjustmentIn], msgspec.Meta(min_length=1, max_length=50)]


class LedgerStatus(msgspec.Struct):
    invoice_id: uuid.UUID
    target: str
    status: str
    attempts: int
    reference: str | None
    last_error: str | None
    posted_at: datetime | None


class NotificationOut(msgspec.Struct):
    id: uuid.UUID
    kind: str
    recipient_role: str
    invoice_id: uuid.UUID | None
    message: str
    created_at: datetime


def _scoped(ctx: Ctx, query: Any) -> Any:
    """client_viewer keys see only their client's approved invoices; a scoped member its clients' invoices."""
    clients = client_reach(ctx)
    if clients is not None:
        query = query.where(Invoice.client_id.in_(clients))
    if ctx.principal.role is Role.CLIENT_VIEWER:
        query = query.where(Invoice.status == "approved")
    return query


async def _invoice(ctx: Ctx, invoice_id: uuid.UUID) -> Invoice:
    row = (
        await ctx.session.execute(_scoped(ctx, select(Invoice).where(Invoice.id == invoice_id)))
    ).scalar_one_or_none()
    if row is None:
        raise not_found("invoice", invoice_id)
    return row


def _out(row: Invoice) -> InvoiceOut:
    return msgspec.convert(row, InvoiceOut, from_attributes=True)


@get("/invoices", opt={"action": "invoices.read"}, summary="List invoices")
async def list_invoices(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: FromQuery[str | None] = None,
    contract_id: FromQuery[uuid.UUID | None] = None,
    period: FromQuery[str | None] = None,
) -> Page[InvoiceSummary]:
    query = _scoped(ctx, select(Invoice))
    if status:
        query = query.where(Invoice.status == status)
    if contract_id:
        query = query.where(Invoice.contract_id == contract_id)
    if period:
        query = query.where(Invoice.period == period)
    rows = (await ctx.session.execute(paginate(query, Invoice.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda r: r.id)
    await ctx.audit("invoice.list", "invoice", detail={"count": len(items), "status": status, "period": period})
    return Page(
        items=[msgspec.convert(r, InvoiceSummary, from_attributes=True) for r in items], next_cursor=next_cursor
    )


@get("/invoices/{invoice_id:uuid}", opt={"action": "invoices.read"}, summary="An invoice with lines and traces")
async def get_invoice(ctx: Ctx, invoice_id: uuid.UUID) -> Response[InvoiceOut]:
    row = await _invoice(ctx, invoice_id)
    from api.routes.invoice_documents import accepts_pdf, pdf_response  # the PDF module imports this one

    if accepts_pdf(ctx.request):
        return await pdf_response(ctx, row)  # type: ignore[return-value]
    await ctx.audit("invoice.read", "invoice", row.id)
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


async def _decide(ctx: Ctx, invoice_id: uuid.UUID, update_name: str, decision: Decision) -> Response[InvoiceOut]:
    row = await _invoice(ctx, invoice_id)
    check_if_match(ctx.request, row.version)
    if row.status not in ("draft", "blocked"):
        raise Conflict(f"invoice {row.id} is {row.status}; it can no longer be changed")
    await update(ctx, row.workflow_id, update_name, decision, result_type=DecisionOutcome)
    await ctx.session.refresh(row)
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


def _decision(ctx: Ctx, invoice_id: uuid.UUID, reason: str, adjustments: list[Adjustment] | None = None) -> Decision:
    return Decision(
        invoice_id=str(invoice_id),
        actor_id=str(ctx.principal.key_id),
        actor_role=ctx.principal.role.value,
        actor_type=ctx.principal.actor.type,
        actor_user_id=str(ctx.principal.user_id) if ctx.principal.user_id else None,
        reason=reason,
        adjustments=adjustments or [],
    )


@post(
    "/invoices/{invoice_id:uuid}/approve",
    opt={"action": "invoices.approve"},
    dto=Body[ApproveBody],
    return_dto=None,
    status_code=200,
    summary="Approve: number it, lock the period, sync to the ledger",
)
async def approve_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: ApproveBody) -> Response[InvoiceOut]:
    return await _decide(ctx, invoice_id, names.UPDATE_APPROVE, _decision(ctx, invoice_id, data.reason))


@post(
    "/invoices/{invoice_id:uuid}/reject",
    opt={"action": "invoices.approve"},
    dto=Body[RejectBody],
    return_dto=None,
    status_code=200,
    summary="Reject with a reason; a new draft follows on request",
)
async def reject_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: RejectBody) -> Response[InvoiceOut]:
    return await _decide(ctx, invoice_id, names.UPDATE_REJECT, _decision(ctx, invoice_id, data.reason))


@post(
    "/invoices/{invoice_id:uuid}/adjust",
    opt={"action": "invoices.adjust"},
    dto=Body[AdjustBody],
    return_dto=None,
    status_code=200,
    summary="Add adjustment lines (reason required); totals re-verified",
)
async def adjust_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: AdjustBody) -> Response[InvoiceOut]:
    adjustments = [Adjustment(**msgspec.structs.asdict(a)) for a in data.adjustments]
    return await _decide(ctx, invoice_id, names.UPDATE_ADJUST, _decision(ctx, invoice_id, data.reason, adjustments))


@post(
    "/invoices/{invoice_id:uuid}/resolve",
    opt={"action": "invoices.adjust"},
    dto=Body[RejectBody],
    return_dto=None,
    status_code=200,
    summary="Accept a blocked reconciliation difference (reason required)",
)
async def resolve_invoice(ctx: Ctx, invoice_id: uuid.UUID, data: RejectBody) -> Response[InvoiceOut]:
    row = await _invoice(ctx, invoice_id)
    if row.status != "blocked":
        raise Conflict(f"invoice {row.id} is {row.status}, not blocked")
    await update(ctx, row.workflow_id, names.UPDATE_RESOLVE, _decision(ctx, invoice_id, data.reason), result_type=str)
    await ctx.session.refresh(row)
    return json_response(200, _out(row))  # type: ignore[return-value]


@post(
    "/invoices/{invoice_id:uuid}/redraft",
    opt={"action": "invoices.adjust"},
    status_code=202,
    summary="Re-gather and re-rate a rejected or blocked invoice",
)
async def redraft_invoice(ctx: Ctx, invoice_id: uuid.UUID) -> dict[str, str]:
    row = await _invoice(ctx, invoice_id)
    if row.status not in ("rejected", "blocked"):
        raise Conflict(f"invoice {row.id} is {row.status}; only rejected or blocked invoices are redrafted")
    await update(ctx, row.workflow_id, names.UPDATE_REDRAFT, ctx.principal.role.value, result_type=str)
    await ctx.audit("invoice.redraft", "invoice", row.id)
    return {"status": "redrafting"}


@get("/invoices/{invoice_id:uuid}/ledger", opt={"action": "ledger.read"}, summary="Ledger sync status")
async def ledger_status(ctx: Ctx, invoice_id: uuid.UUID) -> list[LedgerStatus]:
    await _invoice(ctx, invoice_id)
    rows = (await ctx.session.execute(select(LedgerPosting).where(LedgerPosting.invoice_id == invoice_id))).scalars()
    return [msgspec.convert(r, LedgerStatus, from_attributes=True) for r in rows]


@post(
    "/invoices/{invoice_id:uuid}/ledger/retry",
    opt={"action": "ledger.retry"},
    status_code=202,
    summary="Retry a failed ledger sync (posting stays exactly-once)",
)
async def retry_ledger(ctx: Ctx, invoice_id: uuid.UUID) -> dict[str, str]:
    row = await _invoice(ctx, invoice_id)
    posting = (
        await ctx.session.execute(select(LedgerPosting).where(LedgerPosting.invoice_id == invoice_id))
    ).scalar_one_or_none()
    if posting is None or row.status != "approved":
        raise Conflict("only approved invoices are synced")
    if posting.status == "posted":
        raise Conflict(f"invoice {row.id} is already posted ({posting.reference})")
    client = await temporal(ctx)
    await client.start_workflow(
        names.LEDGER_SYNC_WORKFLOW,
        LedgerSyncInput(org_id=str(ctx.org_id), invoice_id=str(row.id)),
        id=names.ledger_sync_id(str(ctx.org_id), str(row.id)),
        task_queue=ctx.request.app.state.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    await ctx.audit("invoice.ledger_retry", "invoice", row.id)
    return {"status": "retrying"}


@get("/notifications", opt={"action": "invoices.read"}, summary="Billing notifications (ready, reminders, ...)")
async def list_notifications(
    ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, invoice_id: FromQuery[uuid.UUID | None] = None
) -> Page[NotificationOut]:
    query = select(Notification)
    if invoice_id:
        query = query.where(Notification.invoice_id == invoice_id)
    if ctx.principal.role is Role.CLIENT_VIEWER:
        query = query.where(Notification.id.is_(None))
    elif (clients := client_reach(ctx)) is not None:
        query = query.where(Notification.invoice_id.in_(select(Invoice.id).where(Invoice.client_id.in_(clients))))
    rows = (await ctx.session.execute(paginate(query, Notification.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda r: r.id)
    return Page(
        items=[msgspec.convert(r, NotificationOut, from_attributes=True) for r in items], next_cursor=next_cursor
    )


ROUTES = [
    list_invoices,
    get_invoice,
    approve_invoice,
    reject_invoice,
    adjust_invoice,
    resolve_invoice,
    redraft_invoice,
    ledger_status,
    retry_ledger,
    list_notifications,
]
