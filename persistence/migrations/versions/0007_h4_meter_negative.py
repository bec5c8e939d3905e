"""meters: ``allow_negative``, the opt-in for corrections

A negative value drove a ``sum`` meter from 3 to -2: usage is a count of things consumed, so ingest now
rejects negative values and costs (reason ``negative_value``) unless the meter opts in, for meters that
carry corrections (credits, refunds of usage). Existing meters keep rejecting them from now on; events
already stored are untouched. The trigger that bumps ``metering_config_versions`` on meter updates
already fires for this column, so ingest caches see a changed flag with the next batch.

Revision ID: 0007_h4_meter_negative
Revises: 0007_contract_terminating
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_h4_meter_negative"
down_revision = "0007_contract_terminating"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meters", sa.Column("allow_negative", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("meters", "allow_negative")
