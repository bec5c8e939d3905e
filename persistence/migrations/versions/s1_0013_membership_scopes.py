"""memberships (and the invites that make them) may be scoped to clients and projects

A member whose membership names clients or projects acts only on those: their projects (and every project of
a named client), their time, expenses, milestones and tasks, and the named clients' contracts, invoices and
usage. Both empty means the role's whole reach, as before.

Revision ID: s1_0013_membership_scopes
Revises: o1_0012_org_soft_delete
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "s1_0013_membership_scopes"
down_revision = "o1_0012_org_soft_delete"
branch_labels = None
depends_on = None


_TABLES = ("memberships", "invites")
_COLUMNS = ("scope_client_ids", "scope_project_ids")


def upgrade() -> None:
    for table in _TABLES:
        for column in _COLUMNS:
            op.add_column(
                table,
                sa.Column(column, ARRAY(UUID(as_uuid=True)), nullable=False, server_default=sa.text("'{}'::uuid[]")),
            )


def downgrade() -> None:
    for table in _TABLES:
        for column in _COLUMNS:
            op.drop_column(table, column)
