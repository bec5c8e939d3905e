"""One CSV import of time entries (Harvest, Toggl Track, Clockify): what came in, from which file, by whom."""

from __future__ import annotations

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin


class TimeImport(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "time_imports"
    __table_args__ = (UniqueConstraint("org_id", "id"),)

    source: Mapped[str] = mapped_column(String(16), nullable=False)
    filename: Mapped[str | None] = mapped_column(String(300))
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)
    imported_by: Mapped[str] = mapped_column(String(64), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
