"""Rendered finance documents and the branding they are rendered with.

``InvoiceDocument`` keeps an approved invoice's PDF exactly as first rendered, with its SHA-256: the app role
can insert and read these rows but not change them (migration d1_0011), so a re-read is byte-identical to
what the client received. Drafts are never stored; they render on the fly.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class InvoiceDocument(IdMixin, TenantMixin, Base):
    __tablename__ = "invoice_documents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_invoice_documents_invoice"
        ),
        UniqueConstraint("org_id", "invoice_id", "kind", name="uq_invoice_documents_org_id_invoice_id_kind"),
        CheckConstraint("size = octet_length(content)", name="ck_invoice_documents_size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_invoice_documents_sha256"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    renderer: Mapped[str] = mapped_column(String(64), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class OrgBranding(TimestampMixin, VersionedMixin, Base):
    """One row per org; absent means the org's name on an otherwise plain document."""

    __tablename__ = "org_branding"
    __table_args__ = (
        CheckConstraint("logo_format IS NULL OR logo_format IN ('svg', 'png')", name="ck_org_branding_logo"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orgs.id"), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    address_lines: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    tax_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    primary_colour: Mapped[str] = mapped_column(String(7), nullable=False, default="#1F3A5F")
    accent_colour: Mapped[str] = mapped_column(String(7), nullable=False, default="#E8EEF5")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_format: Mapped[str | None] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(35), nullable=False, default="en_US")
    payment_terms: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    payment_instructions: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
