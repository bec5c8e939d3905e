"""organisations are soft-deleted, after an export: when, by whom, and the export's name and hash

A deleted org keeps its rows (invoices are financial records) but nobody can sign in to it: its keys,
sessions and open invites are revoked by the deletion, and the login lookup skips its memberships.

Revision ID: o1_0012_org_soft_delete
Revises: d1_0011_invoice_documents
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "o1_0012_org_soft_delete"
down_revision = "d1_0011_invoice_documents"
branch_labels = None
depends_on = None

_LOGIN_CANDIDATES = """
CREATE OR REPLACE FUNCTION af_login_candidates(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, org_id uuid, org_slug text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.id, u.password_hash, m.org_id, o.slug, m.role
  FROM users u
  LEFT JOIN (memberships m JOIN orgs o ON o.id = m.org_id AND {live}) ON m.user_id = u.id
  WHERE lower(u.email) = lower(p_email)
  ORDER BY o.slug
$$
"""


def upgrade() -> None:
    op.add_column("orgs", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("orgs", sa.Column("deleted_by", sa.String(200), nullable=True))
    op.add_column("orgs", sa.Column("export_name", sa.String(300), nullable=True))
    op.add_column("orgs", sa.Column("export_sha256", sa.String(64), nullable=True))
    op.execute(_LOGIN_CANDIDATES.format(live="o.deleted_at IS NULL"))


def downgrade() -> None:
    op.execute(_LOGIN_CANDIDATES.format(live="true"))
    for column in ("export_sha256", "export_name", "deleted_by", "deleted_at"):
        op.drop_column("orgs", column)
