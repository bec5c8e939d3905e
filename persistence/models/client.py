"""Clients of the agency; currency and time zone drive billing periods and invoice rounding."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class Client(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "external_key"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    external_key: Mapped[str] = mapped_column(String(200), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    tax: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    payment_terms_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Days from issue to due; None: the org's collection policy."""
