"""Per-org counter bumped by triggers on clients, sites, meters and billing locks.

Ingest keeps each org's clients, sites, meters and locks in a per-process cache and reads only this counter
per batch: a changed counter means reload, so a meter or client created a moment ago is seen by the next batch.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base


class MeteringConfigVersion(Base):
    __tablename__ = "metering_config_versions"

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orgs.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)
