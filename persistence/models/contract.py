"""Contracts: one client engagement, its versioned terms document, and the workflow that runs it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Date, ForeignKeyConstraint, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Contract(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "contracts"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"]),
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "code"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    terms_versions: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    start_period: Mapped[str] = mapped_column(String(7), nullable=False)
    end_period: Mapped[str | None] = mapped_column(String(7))
    # Set when a termination is accepted (status ``terminating``) so the row says it is ending before its
    # final cycle runs.
    terminates_on: Mapped[date | None] = mapped_column(Date)
    final_period: Mapped[str | None] = mapped_column(String(7))
    workflow_id: Mapped[str] = mapped_column(String(200), nullable=False)
