"""Capacity plans: one planning run (or what-if) solved by the ``CapacityPlan`` workflow.

``request`` is what the caller sent; ``instance`` the ``scheduling`` instance built from it (the org's people
at that moment); ``progress`` the latest solver heartbeat; ``checkpoint`` the best allocations so far (a
retried solve resumes from them); ``result`` the plan, ``check_report`` the independent checker's verdict and
``diff`` (what-ifs) the change against ``base_plan_id``. Publishing copies the allocations to
``capacity_allocations`` and stamps ``published_at``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Float, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin

PLAN_STATUSES = ("queued", "solving", "done", "cancelled", "failed")
ACTIVE_STATUSES = ("queued", "solving")


class CapacityPlan(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "capacity_plans"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        ForeignKeyConstraint(["org_id", "base_plan_id"], ["capacity_plans.org_id", "capacity_plans.id"]),
        Index("ix_capacity_plans_org_published", "org_id", "published_at"),
    )

    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="plan")
    base_plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    scenario: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    instance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    start_date: Mapped[date | None] = mapped_column(Date)
    weeks: Mapped[int | None] = mapped_column(Integer)
    project_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False, default=list)
    time_limit_s: Mapped[float] = mapped_column(Float, nullable=False)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    check_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notes: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(String(200), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(String(200))
