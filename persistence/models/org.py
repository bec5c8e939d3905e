"""Organisations: the tenant. Its row is visible only to itself under row-level security."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TimestampMixin, VersionedMixin


class Org(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "orgs"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    default_currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    # Soft delete (persistence.org_deletion): set once, after the org's data was exported.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    export_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    export_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
