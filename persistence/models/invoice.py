"""Invoices written by billing cycles: the rated draft, the inputs and state it was rated from, and its fate.

A cycle's draft is keyed by (contract, period, revision), which makes writing it idempotent; a period has at
most one approved invoice. Numbers are assigned only at approval, gaplessly per org and year.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Invoice(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "contract_id"], ["contracts.org_id", "contracts.id"]),
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"]),
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "contract_id", "period", "revision"),
        UniqueConstraint("org_id", "number"),
        Index(
            "uq_invoices_one_approved_per_period",
            "org_id",
            "contract_id",
            "period",
            unique=True,
            postgresql_where=text("status = 'approved'"),
        ),
        Index("ix_invoices_org_status", "org_id", "status"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    contract_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    number: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    tax: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    total: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    draft: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    state_before: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    state_after: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    reconciliation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    workflow_id: Mapped[str] = mapped_column(String(200), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    # Collection (``persistence.collections``): set when approval issues the invoice.
    collection: Mapped[str | None] = mapped_column(String(16))
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_to: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    amount_paid: Mapped[Decimal] = mapped_column(Numeric(), nullable=False, default=Decimal(0), server_default="0")
    amount_credited: Mapped[Decimal] = mapped_column(Numeric(), nullable=False, default=Decimal(0), server_default="0")
    """The sum of its credit notes' totals (``persistence.credit_notes``)."""
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_since: Mapped[date | None] = mapped_column(Date)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(String(1000))


class InvoiceNumberSequence(TenantMixin, Base):
    """The last number issued per org and year; incremented in the approving transaction, so no gaps."""

    __tablename__ = "invoice_number_sequences"

    __table_args__ = (PrimaryKeyConstraint("org_id", "year"),)

    year: Mapped[int] = mapped_column(Integer, nullable=False)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class LedgerPosting(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    """Sync status of one approved invoice to the org's accounting target."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"]),
        UniqueConstraint("org_id", "invoice_id", "target"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    target: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    reference: Mapped[str | None] = mapped_column(String(500))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(IdMixin, TenantMixin, Base):
    """What the billing cycle told people: invoice ready, reminders, escalations, blocked reconciliations."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_invoice", "org_id", "invoice_id"),
        UniqueConstraint("org_id", "dedupe_key"),
    )

    dedupe_key: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    recipient_role: Mapped[str] = mapped_column(String(32), nullable=False)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    message: Mapped[str] = mapped_column(String(1000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
