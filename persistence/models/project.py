"""Projects: the unit PMs track and delivery leads staff."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Project(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"]),
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "code"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    billing_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
