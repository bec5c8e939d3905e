"""Hourly, daily and monthly (UTC) usage rollups, written only by ``af_compact_usage`` (see migration 0002).

One row per (client, meter, UTC bucket, site, up to four dimension values, distinct value for unique_count
meters). Columns hold mergeable partials: sum, max, event count, provider-cost sum and count, and the
``latest`` candidate (time, source, id, value).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Index, Numeric, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base


class _RollupColumns:
    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    site: Mapped[str | None] = mapped_column(Text)
    d1: Mapped[str | None] = mapped_column(Text)
    d2: Mapped[str | None] = mapped_column(Text)
    d3: Mapped[str | None] = mapped_column(Text)
    d4: Mapped[str | None] = mapped_column(Text)
    uniq: Mapped[str | None] = mapped_column(Text)
    qty_sum: Mapped[Decimal | None] = mapped_column(Numeric)
    qty_max: Mapped[Decimal | None] = mapped_column(Numeric)
    event_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cost_sum: Mapped[Decimal | None] = mapped_column(Numeric)
    cost_count: Mapped[int] = mapped_column(BigInteger, nullable=False)


_KEY = ["org_id", "client_id", "meter_id", "bucket", "site", "d1", "d2", "d3", "d4", "uniq"]


class UsageRollupHourly(_RollupColumns, Base):
    __tablename__ = "usage_rollup_hourly"
    __table_args__ = (Index("ix_usage_rollup_hourly_org_bucket", "org_id", "bucket"),)
    __mapper_args__ = {"primary_key": _KEY}


class UsageRollupDaily(_RollupColumns, Base):
    __tablename__ = "usage_rollup_daily"
    __table_args__ = (Index("ix_usage_rollup_daily_org_bucket", "org_id", "bucket"),)
    __mapper_args__ = {"primary_key": _KEY}


class UsageRollupMonthly(_RollupColumns, Base):
    __tablename__ = "usage_rollup_monthly"
    __table_args__ = (Index("ix_usage_rollup_monthly_org_bucket", "org_id", "bucket"),)
    __mapper_args__ = {"primary_key": _KEY}
