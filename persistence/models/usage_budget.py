"""Usage budgets (metering) per client and meter, and the alerts they fire (each threshold once per period)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, DateTime, ForeignKeyConstraint, Integer, Numeric, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class UsageBudget(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "usage_budgets"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "client_id", "meter_id", "period", "kind", name="uq_usage_budgets_scope"),
        ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["org_id", "meter_id"], ["meters.org_id", "meters.id"]),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False, default="month")
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    limit_value: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    thresholds: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")


class UsageBudgetAlert(IdMixin, TenantMixin, Base):
    __tablename__ = "usage_budget_alerts"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("budget_id", "period_start", "threshold", name="uq_usage_budget_alerts_once"),
        ForeignKeyConstraint(["org_id", "budget_id"], ["usage_budgets.org_id", "usage_budgets.id"], ondelete="CASCADE"),
    )

    budget_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    usage: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    limit_value: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
