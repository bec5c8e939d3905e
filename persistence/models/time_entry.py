"""Time entries: who worked how long on which project (phase, task) on which local date, in which role.

Rates are snapshotted when the entry is written (cost from the person, bill from the rate card), so a
later raise or rate change never rewrites history; a rate-card change re-prices unlocked entries only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, ForeignKeyConstraint, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class TimeEntry(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "time_entries"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "project_id"], ["projects.org_id", "projects.id"]),
        ForeignKeyConstraint(["org_id", "person_id"], ["people.org_id", "people.id"]),
        ForeignKeyConstraint(["org_id", "phase_id"], ["project_phases.org_id", "project_phases.id"]),
        ForeignKeyConstraint(["org_id", "task_id"], ["tasks.org_id", "tasks.id"]),
        ForeignKeyConstraint(["org_id", "import_id"], ["time_imports.org_id", "time_imports.id"]),
        Index("ix_time_entries_date", "org_id", "work_date"),
        Index("ix_time_entries_project_date", "org_id", "project_id", "work_date"),
        Index("ix_time_entries_person_date", "org_id", "person_id", "work_date"),
        Index(
            "uq_time_entries_external",
            "org_id",
            "source",
            "external_ref",
            unique=True,
            postgresql_where=text("external_ref IS NOT NULL"),
        ),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    phase_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    task_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    work_date: Mapped[date] = mapped_column(Date, nullable=False)
    minutes: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    billable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    cost_rate: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    cost_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    bill_rate: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    bill_currency: Mapped[str | None] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    external_ref: Mapped[str | None] = mapped_column(String(128))
    import_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
