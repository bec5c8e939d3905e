"""Raw usage: the ingest ledger, the dedupe keys and the month-partitioned CloudEvents themselves.

``usage_events`` has no primary key in the database (a partitioned table's unique keys must contain the
partition key); ``(batch_id, pos)`` identifies an event and is declared as the ORM identity. Uniqueness of
(org, source, id) is enforced by ``usage_event_keys`` in the same transaction as the insert.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Boolean, DateTime, ForeignKey, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base


class IngestBatch(Base):
    """One committed ingest transaction; ``xid`` lets ``period_usage(as_of=...)`` replay a past snapshot."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orgs.id"), nullable=False)
    xid: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    event_count: Mapped[int] = mapped_column(Integer, nullable=False)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="ingest")
    rolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageEventKey(Base):
    __tablename__ = "usage_event_keys"
    __table_args__ = (PrimaryKeyConstraint("org_id", "source", "event_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    source: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    event_id: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = {"postgresql_partition_by": "RANGE (time)"}
    __mapper_args__ = {"primary_key": ["batch_id", "pos"]}

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    batch_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pos: Mapped[int] = mapped_column(Integer, nullable=False)
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    event_id: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    subject: Mapped[str | None] = mapped_column(Text)
    meter_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    late: Mapped[bool] = mapped_column(Boolean, nullable=False)
    unmatched: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[Any] = mapped_column(JSONB)
