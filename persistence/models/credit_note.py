"""Credit notes against issued invoices: never edited, numbered gaplessly per org and year (CN-2026-00001)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKeyConstraint, Integer, Numeric, PrimaryKeyConstraint, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin


class CreditNote(IdMixin, TenantMixin, Base):
    __tablename__ = "credit_notes"
    __table_args__ = (ForeignKeyConstraint(["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"]),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    tax: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    total: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    """The engine's ``CreditNoteDraft``: lines (with the invoice line each credits) and tax per rate."""
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by_user: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    ledger_status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    ledger_reference: Mapped[str | None] = mapped_column(String(500))


class CreditNoteSequence(TenantMixin, Base):
    """The last credit note number per org and year, moved in the issuing transaction: no gaps."""

    __tablename__ = "credit_note_sequences"
    __table_args__ = (PrimaryKeyConstraint("org_id", "year"),)

    year: Mapped[int] = mapped_column(Integer, nullable=False)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)
