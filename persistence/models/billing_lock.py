"""A closed billing period of one client: once an invoice for it is approved, its usage and time are locked.

Metering flags events that land in a locked period as ``late`` (billed later as deltas); time entries in a
locked period refuse edits. Written by the billing workflow on approval, read by ingest and time tracking.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin


class BillingPeriodLock(IdMixin, TenantMixin, Base):
    __tablename__ = "billing_period_locks"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"]),
        Index("ix_billing_period_locks_client", "org_id", "client_id", "period_start"),
        UniqueConstraint("org_id", "client_id", "period"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
