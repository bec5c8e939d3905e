"""A simple rate card: the hourly bill rate of a role on a client's work, optionally for one project.

Resolution for an entry (project, role, date): the most specific row whose ``valid_from`` is on or before
the date wins — project+role, then project (any role), then client+role, then client (any role); within
one scope the latest ``valid_from``. Contract terms (issue 6) price invoices; this card prices WIP.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKeyConstraint, Index, Numeric, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class BillRate(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "bill_rates"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["org_id", "project_id"], ["projects.org_id", "projects.id"], ondelete="CASCADE"),
        Index("ix_bill_rates_lookup", "org_id", "client_id", "project_id", "role"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    project_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    role: Mapped[str | None] = mapped_column(String(64))
    hourly_rate: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    valid_from: Mapped[date | None] = mapped_column(Date)
