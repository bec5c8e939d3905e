"""capacity planning (issue 7): plans, allocations

Revision ID: 0005_capacity
Revises: 0004_billing
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0005_capacity"
down_revision = "0004_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
