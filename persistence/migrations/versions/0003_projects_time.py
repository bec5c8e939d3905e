"""projects, time and profitability (issue 8): phases, milestones, tasks, time entries, timesheets, expenses

Revision ID: 0003_projects_time
Revises: 0002_metering
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0003_projects_time"
down_revision = "0002_metering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
