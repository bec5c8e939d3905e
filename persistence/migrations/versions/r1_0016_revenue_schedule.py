"""the revenue schedule: each issued amount in the month it is earned

Invoices approved before this revision get their rows here, by the same rules as ``billing.recognition``
(a late line in its ``delta_for`` period, a retainer fee in the month its key names, the rest in the invoice's
period; consumed prepaid credit is no revenue), issued on their issue date (else the day they were decided).

Revision ID: r1_0016_revenue_schedule
Revises: n1_0015_credit_notes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "r1_0016_revenue_schedule"
down_revision = "n1_0015_credit_notes"
branch_labels = None
depends_on = None

_BACKFILL = r"""
INSERT INTO revenue_schedule (id, org_id, client_id, invoice_id, line, key, kind, month, amount, currency, issued_on)
SELECT gen_random_uuid(), i.org_id, i.client_id, i.id, (l.ord - 1)::int, l.line ->> 'key', l.line ->> 'kind',
       coalesce(
         l.line ->> 'delta_for',
         CASE WHEN l.line ->> 'kind' = 'retainer' AND split_part(l.line ->> 'key', '|', 3) = 'fee'
                   AND split_part(l.line ->> 'key', '|', 4) ~ '^[0-9]{4}-[0-9]{2}$'
              THEN split_part(l.line ->> 'key', '|', 4) END,
         i.period),
       (l.line ->> 'amount')::numeric, i.currency,
       coalesce(i.issue_date, (i.decided_at AT TIME ZONE 'UTC')::date, (i.created_at AT TIME ZONE 'UTC')::date)
FROM invoices i
CROSS JOIN LATERAL jsonb_array_elements(i.draft -> 'lines') WITH ORDINALITY AS l(line, ord)
WHERE i.status = 'approved' AND l.line ->> 'kind' <> 'credit' AND (l.line ->> 'amount')::numeric <> 0
"""


def upgrade() -> None:
    op.create_table(
        "revenue_schedule",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("invoice_id", UUID(as_uuid=True), nullable=False),
        sa.Column("credit_note_id", UUID(as_uuid=True), nullable=True),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("amount", sa.Numeric, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["org_id", "invoice_id"], ["invoices.org_id", "invoices.id"], name="fk_revenue_schedule_invoice"
        ),
        sa.CheckConstraint("month ~ '^[0-9]{4}-[0-9]{2}$'", name="ck_revenue_schedule_month"),
    )
    op.create_index("ix_revenue_schedule_month", "revenue_schedule", ["org_id", "month"])
    op.create_index("ix_revenue_schedule_invoice", "revenue_schedule", ["org_id", "invoice_id"])
    enable_tenant_rls("revenue_schedule", privileges="SELECT, INSERT")
    op.execute(_BACKFILL)


def downgrade() -> None:
    disable_tenant_rls("revenue_schedule")
    op.drop_table("revenue_schedule")
