"""Row-level-security and grant helpers every migration uses for its tenant-owned tables.

One helper, so no table can be added with a weaker policy than the others: ``FORCE`` makes the policy
apply to the table owner too, and the app role gets only the privileges it needs.
"""

from __future__ import annotations

from alembic import op

from core.settings import APP_ROLE, OWNER_ROLE

CURRENT_ORG_FUNCTION = """
CREATE OR REPLACE FUNCTION af_current_org() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$
"""


def enable_tenant_rls(table: str, *, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (org_id = af_current_org()) WITH CHECK (org_id = af_current_org())"
    )
    op.execute(f'GRANT {privileges} ON {table} TO "{APP_ROLE}"')


def disable_tenant_rls(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f'REVOKE ALL ON {table} FROM "{APP_ROLE}"')


def allow_owner_maintenance(table: str) -> None:
    """Let definer functions (running as the owner role) sweep across tenants; the app role cannot."""
    op.execute(f'CREATE POLICY owner_maintenance ON {table} TO "{OWNER_ROLE}" USING (true) WITH CHECK (true)')
