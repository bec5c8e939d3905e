"""seal stored secrets: webhook signing secrets, and replayable responses that show a secret once

Webhook signing secrets were stored readable, and an ``Idempotency-Key`` replay kept the create response of
an API key or a webhook endpoint (token or signing secret included) readable for a day. Both are now sealed
with ``core.secret_box``; this migration seals what is already there, with the same key the processes use.

Revision ID: 0006_sealed_secrets
Revises: 0005_capacity
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.secret_box import secret_box
from core.settings import load_settings
from persistence.sealed_secrets import rewrite_sealed

revision = "0006_sealed_secrets"
down_revision = "0005_capacity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "webhook_endpoints", "secret", type_=sa.Text(), existing_type=sa.String(128), existing_nullable=False
    )
    rewrite_sealed(op.get_bind(), secret_box(load_settings()).seal)


def downgrade() -> None:
    rewrite_sealed(op.get_bind(), secret_box(load_settings()).open)
    op.alter_column(
        "webhook_endpoints", "secret", type_=sa.String(128), existing_type=sa.Text(), existing_nullable=False
    )
