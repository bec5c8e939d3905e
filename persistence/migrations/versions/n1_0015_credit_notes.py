"""credit notes: full or partial, by line or by amount, against an issued invoice, with their own number series

Revision ID: n1_0015_credit_notes
Revises: c1_0014_invoice_collection
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.settings import APP_ROLE
from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "n1_0015_credit_notes"
down_revision = "c1_0014_invoice_collection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("invoice_id", UUID(as_uuid=True), nullable=False),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.Numeric, nullable=False),
        sa.Column("tax", sa.Numeric, nullable=False),
        sa.Column("total", sa.Numeric, nullable=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_by_user", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("ledger_status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("ledger_reference", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_credit_notes_invoice"
        ),
        sa.UniqueConstraint("org_id", "number", name="uq_credit_notes_org_id_number"),
        sa.CheckConstraint("total > 0 AND total = subtotal + tax", name="ck_credit_notes_total"),
    )
    op.create_index("ix_credit_notes_invoice", "credit_notes", ["org_id", "invoice_id"])
    # Only the ledger columns ever change (the sync records where it posted); amounts never do.
    enable_tenant_rls("credit_notes", privileges="SELECT, INSERT")
    op.execute(f'GRANT UPDATE (ledger_status, ledger_reference) ON credit_notes TO "{APP_ROLE}"')

    op.create_table(
        "credit_note_sequences",
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("last_number", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "year", name="pk_credit_note_sequences"),
    )
    enable_tenant_rls("credit_note_sequences", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    disable_tenant_rls("credit_note_sequences")
    op.drop_table("credit_note_sequences")
    disable_tenant_rls("credit_notes")
    op.drop_table("credit_notes")
