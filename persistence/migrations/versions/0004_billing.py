"""durable billing (issue 6): contracts, invoices, gapless numbers, ledger postings, notifications

Revision ID: 0004_billing
Revises: 0003_projects_time
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "0004_billing"
down_revision = "0003_projects_time"
branch_labels = None
depends_on = None

TABLES = ("contracts", "invoices", "invoice_number_sequences", "ledger_postings", "notifications")


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    ]


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("terms", JSONB, nullable=False),
        sa.Column("terms_versions", sa.Integer, nullable=False, server_default="1"),
        sa.Column("start_period", sa.String(7), nullable=False),
        sa.Column("end_period", sa.String(7)),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_contracts_client"),
        sa.UniqueConstraint("org_id", "id", name="uq_contracts_org_id_id"),
        sa.UniqueConstraint("org_id", "code", name="uq_contracts_org_id_code"),
        sa.CheckConstraint("status IN ('active', 'paused', 'terminated', 'ended')", name="contract_status"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("contract_id", UUID(as_uuid=True), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(16), nullable=False, server_default="reconciling"),
        sa.Column("number", sa.String(32)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.Numeric(), nullable=False),
        sa.Column("tax", sa.Numeric(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("draft", JSONB, nullable=False),
        sa.Column("inputs", JSONB, nullable=False),
        sa.Column("state_before", JSONB, nullable=False),
        sa.Column("state_after", JSONB, nullable=False),
        sa.Column("reconciliation", JSONB),
        sa.Column("adjustments", JSONB, nullable=False, server_default="[]"),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision_reason", sa.String(1000)),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["org_id", "contract_id"], ["contracts.org_id", "contracts.id"], name="fk_invoices_contract"
        ),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_invoices_client"),
        sa.UniqueConstraint("org_id", "id", name="uq_invoices_org_id_id"),
        sa.UniqueConstraint("org_id", "contract_id", "period", "revision", name="uq_invoices_period_revision"),
        sa.UniqueConstraint("org_id", "number", name="uq_invoices_org_id_number"),
        sa.CheckConstraint(
            "status IN ('reconciling', 'draft', 'blocked', 'approved', 'rejected', 'superseded')", name="invoice_status"
        ),
        sa.CheckConstraint("(status = 'approved') = (number IS NOT NULL)", name="number_iff_approved"),
    )
    op.create_index(
        "uq_invoices_one_approved_per_period",
        "invoices",
        ["org_id", "contract_id", "period"],
        unique=True,
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.create_index("ix_invoices_org_status", "invoices", ["org_id", "status"])
    op.create_table(
        "invoice_number_sequences",
        _org(),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("last_number", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "year", name="pk_invoice_number_sequences"),
        sa.CheckConstraint("last_number > 0", name="positive"),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("invoice_id", UUID(as_uuid=True), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("reference", sa.String(500)),
        sa.Column("posted_at", sa.DateTime(timezone=True)),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_postings_invoice"
        ),
        sa.UniqueConstraint("org_id", "invoice_id", "target", name="uq_ledger_postings_invoice_target"),
        sa.CheckConstraint("status IN ('pending', 'posted', 'failed')", name="posting_status"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient_role", sa.String(32), nullable=False),
        sa.Column("invoice_id", UUID(as_uuid=True)),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("org_id", "dedupe_key", name="uq_notifications_dedupe"),
    )
    op.create_index("ix_notifications_invoice", "notifications", ["org_id", "invoice_id"])
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
