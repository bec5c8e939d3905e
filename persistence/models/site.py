"""Sites: a client's locations or business units, the scope of per-site minimums and caps."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Site(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "sites"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], ondelete="CASCADE"),
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("client_id", "code"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
