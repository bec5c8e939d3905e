"""Webhook events for finance systems: invoice drafted / approved / rejected / posted, contract terminated.

They ride the same outbox as budget alerts (``metering_jobs.enqueue_event``: one delivery row per subscribed
endpoint, signed and retried by the delivery workflow, logged per attempt), and are written in the same
transaction as the change they announce, so an event is never sent for a change that rolled back, nor lost
for one that committed. Event ids are derived from what happened (type + invoice or contract), so an
activity retried after its first attempt committed enqueues nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.metering_jobs import WebhookEvent, enqueue_event
from persistence.models import Client, Contract, Invoice

INVOICE_DRAFTED = "invoice.drafted"
INVOICE_APPROVED = "invoice.approved"
INVOICE_REJECTED = "invoice.rejected"
INVOICE_POSTED = "invoice.posted"
CONTRACT_TERMINATED = "contract.terminated"
# Collection (``persistence.collections``)
INVOICE_SENT = "invoice.sent"
INVOICE_PAYMENT = "invoice.payment_recorded"
INVOICE_PAID = "invoice.paid"
INVOICE_OVERDUE = "invoice.overdue"
INVOICE_DUNNING = "invoice.dunning_reminder"
INVOICE_VOIDED = "invoice.voided"
INVOICE_CREDITED = "invoice.credited"
FINANCE_EVENTS = (
    INVOICE_DRAFTED,
    INVOICE_APPROVED,
    INVOICE_REJECTED,
    INVOICE_POSTED,
    CONTRACT_TERMINATED,
    INVOICE_SENT,
    INVOICE_PAYMENT,
    INVOICE_PAID,
    INVOICE_OVERDUE,
    INVOICE_DUNNING,
    INVOICE_VOIDED,
    INVOICE_CREDITED,
)

_NAMESPACE = uuid.UUID("6f1d2c56-5a43-4f3e-9a3b-0c1f3d7e9a21")
_SUBSCRIBED = text(
    "SELECT id FROM webhook_endpoints WHERE status = 'active' "
    "AND (cardinality(event_types) = 0 OR :type = ANY(event_types)) ORDER BY id"
)
# Served by the (endpoint_id, event_id) unique index.
_ALREADY = text("SELECT endpoint_id FROM webhook_deliveries WHERE endpoint_id = ANY(:endpoints) AND event_id = :event")


class InvoiceEventData(msgspec.Struct, frozen=True, kw_only=True):
    invoice_id: uuid.UUID
    contract_id: uuid.UUID
    client_id: uuid.UUID
    client: str
    period: str
    revision: int
    status: str
    number: str | None
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    reason: str | None = None
    ledger_reference: str | None = None
    collection: str | None = None
    due_date: str | None = None
    amount_paid: Decimal | None = None
    amount_credited: Decimal | None = None


class ContractEventData(msgspec.Struct, frozen=True, kw_only=True):
    contract_id: uuid.UUID
    client_id: uuid.UUID
    client: str
    code: str
    status: str
    terminates_on: str | None
    final_period: str | None


def event_id(event_type: str, entity_id: uuid.UUID, occurrence: str | None = None) -> uuid.UUID:
    """One id per event; ``occurrence`` tells apart events that happen more than once to one invoice
    (each payment, each dunning step)."""
    suffix = "" if occurrence is None else f"/{occurrence}"
    return uuid.uuid5(_NAMESPACE, f"{event_type}/{entity_id}{suffix}")


async def _emit_once(
    session: AsyncSession,
    org_id: uuid.UUID,
    event_type: str,
    entity: uuid.UUID,
    data: Any,
    occurrence: str | None = None,
) -> None:
    event = WebhookEvent(
        id=event_id(event_type, entity, occurrence), type=event_type, created_at=datetime.now(UTC), data=data
    )
    endpoints = [row.id for row in (await session.execute(_SUBSCRIBED, {"type": event_type})).all()]
    if not endpoints:
        return
    already = {row.endpoint_id for row in await session.execute(_ALREADY, {"endpoints": endpoints, "event": event.id})}
    missing = [endpoint for endpoint in endpoints if endpoint not in already]
    if missing:
        await enqueue_event(session, org_id, event, missing)


async def _client_key(session: AsyncSession, client_id: uuid.UUID) -> str:
    key: str = (await session.execute(select(Client.external_key).where(Client.id == client_id))).scalar_one()
    return key


async def emit_invoice_event(
    session: AsyncSession,
    org_id: uuid.UUID,
    event_type: str,
    invoice_id: uuid.UUID,
    *,
    ledger_reference: str | None = None,
    occurrence: str | None = None,
) -> None:
    invoice = (await session.execute(select(Invoice).where(Invoice.id == invoice_id))).scalar_one()
    data = InvoiceEventData(
        invoice_id=invoice.id,
        contract_id=invoice.contract_id,
        client_id=invoice.client_id,
        client=await _client_key(session, invoice.client_id),
        period=invoice.period,
        revision=invoice.revision,
        status=invoice.status,
        number=invoice.number,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        reason=invoice.decision_reason if event_type == INVOICE_REJECTED else None,
        ledger_reference=ledger_reference,
        collection=invoice.collection,
        due_date=invoice.due_date.isoformat() if invoice.due_date else None,
        amount_paid=invoice.amount_paid if invoice.collection else None,
        amount_credited=invoice.amount_credited if invoice.collection else None,
    )
    await _emit_once(session, org_id, event_type, invoice.id, data, occurrence)


async def emit_contract_terminated(session: AsyncSession, org_id: uuid.UUID, contract_id: uuid.UUID) -> None:
    contract = (await session.execute(select(Contract).where(Contract.id == contract_id))).scalar_one()
    data = ContractEventData(
        contract_id=contract.id,
        client_id=contract.client_id,
        client=await _client_key(session, contract.client_id),
        code=contract.code,
        status=contract.status,
        terminates_on=contract.terminates_on.isoformat() if contract.terminates_on else None,
        final_period=contract.final_period,
    )
    await _emit_once(session, org_id, CONTRACT_TERMINATED, contract.id, data)
