"""Webhook endpoints, the deliveries owed to them, and every attempt made (the delivery log)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, ForeignKeyConstraint, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class WebhookEndpoint(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("org_id", "id"),)

    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    """Sealed (``core.secret_box``): deliveries open it to sign; nothing else reads it."""
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")


class WebhookDelivery(IdMixin, TenantMixin, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_once"),
        ForeignKeyConstraint(
            ["org_id", "endpoint_id"], ["webhook_endpoints.org_id", "webhook_endpoints.id"], ondelete="CASCADE"
        ),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    # The exact bytes that are signed and sent, so every retry sends the same body.
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the dispatcher next (re)starts this pending delivery's workflow (migration h1_0009).
    dispatch_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class WebhookDeliveryAttempt(IdMixin, TenantMixin, Base):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "delivery_id"], ["webhook_deliveries.org_id", "webhook_deliveries.id"], ondelete="CASCADE"
        ),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
