"""contracts: a 'terminating' status with the termination date and the final billed period

A terminated contract read ``active`` until its final cycle ran, so nobody could see from the contract that it
was ending. The termination is now recorded on the row when it is accepted; the engagement sets
``terminated`` once the final invoice is drafted, as before.

Revision ID: 0007_contract_terminating
Revises: 0006_sealed_secrets
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_contract_terminating"
down_revision = "0006_sealed_secrets"
branch_labels = None
depends_on = None

_OLD = "status IN ('active', 'paused', 'terminated', 'ended')"
_NEW = "status IN ('active', 'paused', 'terminating', 'terminated', 'ended')"


def _replace_status_check(condition: str) -> None:
    # 0004 named it "contract_status"; the naming convention may have prefixed it.
    op.execute("ALTER TABLE contracts DROP CONSTRAINT IF EXISTS ck_contracts_contract_status")
    op.execute("ALTER TABLE contracts DROP CONSTRAINT IF EXISTS contract_status")
    op.execute(f"ALTER TABLE contracts ADD CONSTRAINT ck_contracts_contract_status CHECK ({condition})")


def upgrade() -> None:
    op.add_column("contracts", sa.Column("terminates_on", sa.Date(), nullable=True))
    op.add_column("contracts", sa.Column("final_period", sa.String(7), nullable=True))
    _replace_status_check(_NEW)


def downgrade() -> None:
    op.execute("UPDATE contracts SET status = 'active' WHERE status = 'terminating'")
    _replace_status_check(_OLD)
    op.drop_column("contracts", "final_period")
    op.drop_column("contracts", "terminates_on")
