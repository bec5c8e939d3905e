"""invoices are collected: issue and due dates, sending, payments, credit notes, overdue, dunning, void

An approved invoice is issued (its issue date and a due date from the client's payment terms, else the
org's collection policy), may be sent, collects payments (partially paid / paid), becomes overdue after its
due date and is reminded on the org's schedule, or is voided with a reason while nothing is paid on it.
Payments are insert-only for the app role: a correction is a new row, never an edit.

Revision ID: c1_0014_invoice_collection
Revises: s1_0013_membership_scopes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "c1_0014_invoice_collection"
down_revision = "s1_0013_membership_scopes"
branch_labels = None
depends_on = None

_INVOICE_COLUMNS = (
    sa.Column("collection", sa.String(16), nullable=True),
    sa.Column("issue_date", sa.Date, nullable=True),
    sa.Column("due_date", sa.Date, nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_to", JSONB, nullable=False, server_default="[]"),
    sa.Column("amount_paid", sa.Numeric, nullable=False, server_default="0"),
    sa.Column("amount_credited", sa.Numeric, nullable=False, server_default="0"),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("overdue_since", sa.Date, nullable=True),
    sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("void_reason", sa.String(1000), nullable=True),
)


def upgrade() -> None:
    for column in _INVOICE_COLUMNS:
        op.add_column("invoices", column)
    # Names pass through the metadata's convention (ck_<table>_<name>).
    op.create_check_constraint(
        "collection",
        "invoices",
        "collection IS NULL OR collection IN ('issued', 'sent', 'partially_paid', 'paid', 'credited', 'void')",
    )
    op.create_check_constraint("amount_paid", "invoices", "amount_paid >= 0")
    # Invoices approved before this revision were issued on the day they were decided.
    op.execute(
        "UPDATE invoices SET collection = 'issued', issue_date = (decided_at AT TIME ZONE 'UTC')::date, "
        "due_date = (decided_at AT TIME ZONE 'UTC')::date + 30 WHERE status = 'approved' AND decided_at IS NOT NULL"
    )
    op.add_column("clients", sa.Column("payment_terms_days", sa.Integer, nullable=True))
    op.create_check_constraint(
        "payment_terms_days", "clients", "payment_terms_days IS NULL OR payment_terms_days BETWEEN 0 AND 365"
    )

    op.create_table(
        "collection_policies",
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), primary_key=True),
        sa.Column("payment_terms_days", sa.Integer, nullable=False, server_default="30"),
        sa.Column("reminder_days", ARRAY(sa.Integer), nullable=False, server_default=sa.text("'{7,14,30}'::int[]")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_collection_policies_terms"),
    )
    enable_tenant_rls("collection_policies", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "invoice_payments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("invoice_id", UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.Numeric, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_invoice_payments_invoice"
        ),
        sa.UniqueConstraint("org_id", "invoice_id", "reference", name="uq_invoice_payments_reference"),
        sa.CheckConstraint("amount > 0", name="ck_invoice_payments_amount"),
    )
    enable_tenant_rls("invoice_payments", privileges="SELECT, INSERT")


def downgrade() -> None:
    disable_tenant_rls("invoice_payments")
    op.drop_table("invoice_payments")
    disable_tenant_rls("collection_policies")
    op.drop_table("collection_policies")
    op.drop_column("clients", "payment_terms_days")
    for column in reversed(_INVOICE_COLUMNS):  # their check constraints go with them
        op.drop_column("invoices", column.name)
