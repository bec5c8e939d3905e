"""invoice PDFs stored once with their hash, and the org's document branding

An approved invoice's PDF is rendered once and kept with its SHA-256; the app role may insert and read it but
never update or delete it, so the document a client received cannot change afterwards. Branding (address,
tax ids, colours, logo, locale, payment terms and instructions) is one row per org.

Revision ID: d1_0011_invoice_documents
Revises: i1_0010_identity
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "d1_0011_invoice_documents"
down_revision = "i1_0010_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_documents",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("invoice_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("renderer", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_invoice_documents_invoice"
        ),
        sa.UniqueConstraint("org_id", "invoice_id", "kind", name="uq_invoice_documents_org_id_invoice_id_kind"),
        sa.CheckConstraint("size = octet_length(content)", name="ck_invoice_documents_size"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_invoice_documents_sha256"),
    )
    enable_tenant_rls("invoice_documents", privileges="SELECT, INSERT")

    op.create_table(
        "org_branding",
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), primary_key=True),
        sa.Column("display_name", sa.String(200)),
        sa.Column("address_lines", JSONB, nullable=False, server_default="[]"),
        sa.Column("tax_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("primary_colour", sa.String(7), nullable=False, server_default="#1F3A5F"),
        sa.Column("accent_colour", sa.String(7), nullable=False, server_default="#E8EEF5"),
        sa.Column("logo", sa.LargeBinary),
        sa.Column("logo_format", sa.String(8)),
        sa.Column("locale", sa.String(35), nullable=False, server_default="en_US"),
        sa.Column("payment_terms", sa.String(500), nullable=False, server_default=""),
        sa.Column("payment_instructions", sa.String(2000), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("logo_format IS NULL OR logo_format IN ('svg', 'png')", name="ck_org_branding_logo"),
    )
    enable_tenant_rls("org_branding", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    disable_tenant_rls("org_branding")
    op.drop_table("org_branding")
    disable_tenant_rls("invoice_documents")
    op.drop_table("invoice_documents")
