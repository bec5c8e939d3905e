"""Prepaid credit grants: the purchase record behind a contract's ``prepaid_credits`` entry."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class CreditGrant(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    """The engine rates from the contract's terms; this row says who bought what and whether the ledger has
    booked it as a liability (unconsumed credit is owed to the client until it is used or forfeited)."""

    __tablename__ = "credit_grants"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "contract_id"], ["contracts.org_id", "contracts.id"]),
        UniqueConstraint("org_id", "contract_id", "code"),
    )

    contract_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    amount: Mapped[Decimal] = mapped_column(Numeric(), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    granted: Mapped[str] = mapped_column(String(7), nullable=False)
    expires_after: Mapped[str | None] = mapped_column(String(7))
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    ledger_status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    ledger_reference: Mapped[str | None] = mapped_column(String(500))
    ledger_error: Mapped[str | None] = mapped_column(String(2000))
