"""Collecting issued invoices: the org's payment terms and reminder schedule, and the payments received."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ARRAY, Date, DateTime, ForeignKey, ForeignKeyConstraint, Integer, Numeric, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin

DEFAULT_TERMS_DAYS = 30
DEFAULT_REMINDER_DAYS = (7, 14, 30)


class CollectionPolicy(Base):
    """One row per org; without one, 30-day terms and reminders 7, 14 and 30 days after the due date."""

    __tablename__ = "collection_policies"

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orgs.id"), primary_key=True)
    payment_terms_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_TERMS_DAYS)
    reminder_days: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, default=lambda: list(DEFAULT_REMINDER_DAYS)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class InvoicePayment(IdMixin, TenantMixin, Base):
    """Money received against an issued invoice; the reference (bank or accounting id) makes recording it
    idempotent."""

    __tablename__ = "invoice_payments"
    __table_args__ = (ForeignKeyConstraint(["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"]),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
