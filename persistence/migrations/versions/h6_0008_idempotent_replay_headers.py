"""idempotency_keys: keep the first response's ETag and Location, so a replay answers exactly as the first

A replayed create answered with the stored status and body but without the ``ETag`` and ``Location`` the
first answer carried, so a client retrying after a lost response could not follow the new resource or make
a conditional update without another read. Rows stored before this revision replay without them, as before.

Revision ID: h6_0008_replay_headers
Revises: 0007_h4_meter_negative
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "h6_0008_replay_headers"
down_revision = "0007_h4_meter_negative"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("response_headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


def downgrade() -> None:
    op.drop_column("idempotency_keys", "response_headers")
