"""prepaid credit grants and top-ups on live contracts

A grant is a purchase: it is recorded here (who granted what, when, and whether the ledger has booked it as
a liability) and added to the contract's terms document, which the rating engine reads for every draft.

Revision ID: 0008_credit_grants
Revises: h6_0008_replay_headers
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from persistence.migrations.rls import disable_tenant_rls, enable_tenant_rls

revision = "0008_credit_grants"
down_revision = "h6_0008_replay_headers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_grants",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("contract_id", UUID(as_uuid=True), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("granted", sa.String(7), nullable=False),
        sa.Column("expires_after", sa.String(7)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("scope", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("ledger_status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("ledger_reference", sa.String(500)),
        sa.Column("ledger_error", sa.String(2000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.ForeignKeyConstraint(
            ["org_id", "contract_id"], ["contracts.org_id", "contracts.id"], name="fk_credit_grants_contract"
        ),
        sa.UniqueConstraint("org_id", "contract_id", "code", name="uq_credit_grants_org_id_contract_id_code"),
        sa.CheckConstraint("amount > 0", name="ck_credit_grants_positive"),
        sa.CheckConstraint("ledger_status IN ('pending', 'posted', 'failed')", name="ck_credit_grants_ledger_status"),
    )
    enable_tenant_rls("credit_grants")


def downgrade() -> None:
    disable_tenant_rls("credit_grants")
    op.drop_table("credit_grants")
