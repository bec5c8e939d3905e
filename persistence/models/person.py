"""People who do the work: cost rate and capacity feed profitability and capacity planning."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Person(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("org_id", "id"), UniqueConstraint("org_id", "email"))

    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    cost_rate: Mapped[Decimal] = mapped_column(Numeric(14, 4), nullable=False)
    cost_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    weekly_capacity_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    utilization_target: Mapped[Decimal] = mapped_column(Numeric(4, 3), nullable=False, default=Decimal("0.8"))
    country: Mapped[str | None] = mapped_column(String(2))
    skills: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
