"""Project and phase budgets: hours and/or an amount, on the bill or cost basis, with alert thresholds."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import ARRAY, CheckConstraint, ForeignKeyConstraint, Numeric, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Budget(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "budgets"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "project_id"], ["projects.org_id", "projects.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["org_id", "phase_id"], ["project_phases.org_id", "project_phases.id"], ondelete="CASCADE"
        ),
        CheckConstraint("basis IN ('bill', 'cost')", name="basis"),
        CheckConstraint("hours IS NULL OR hours >= 0", name="hours"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    phase_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    hours: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    basis: Mapped[str] = mapped_column(String(8), nullable=False, default="bill")
    alert_thresholds: Mapped[list[Decimal]] = mapped_column(ARRAY(Numeric(6, 4)), nullable=False)
