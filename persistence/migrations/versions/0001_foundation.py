"""foundation: orgs, users, memberships, API keys, clients, sites, projects, people, audit, idempotency

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from core.settings import APP_ROLE
from persistence.migrations.rls import (
    CURRENT_ORG_FUNCTION,
    allow_owner_maintenance,
    disable_tenant_rls,
    enable_tenant_rls,
)

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "memberships",
    "api_keys",
    "clients",
    "sites",
    "projects",
    "people",
    "idempotency_keys",
    "billing_period_locks",
)


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    ]


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", UUID(as_uuid=True), primary_key=True)


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def upgrade() -> None:
    op.execute(CURRENT_ORG_FUNCTION)
    op.execute(f'GRANT EXECUTE ON FUNCTION af_current_org() TO "{APP_ROLE}"')

    op.create_table(
        "orgs",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False, unique=True),
        sa.Column("default_currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        *_timestamps(),
    )
    op.execute("ALTER TABLE orgs ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE orgs FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON orgs USING (id = af_current_org()) WITH CHECK (id = af_current_org())"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON orgs TO "{APP_ROLE}"')

    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )

    op.create_table(
        "clients",
        _id(),
        _org(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("external_key", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("tax", JSONB, nullable=False, server_default="{}"),
        sa.Column("billing_address", JSONB),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "id", name="uq_clients_org_id_id"),
        sa.UniqueConstraint("org_id", "external_key", name="uq_clients_org_id_external_key"),
    )

    op.create_table(
        "memberships",
        _id(),
        _org(),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("client_id", UUID(as_uuid=True)),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "user_id", name="uq_memberships_org_id_user_id"),
        sa.ForeignKeyConstraint(
            ["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_memberships_client"
        ),
    )

    op.create_table(
        "api_keys",
        _id(),
        _org(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scopes", ARRAY(sa.String(32)), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id")),
        sa.Column("client_id", UUID(as_uuid=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_api_keys_client"),
    )

    op.create_table(
        "sites",
        _id(),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64)),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["org_id", "client_id"],
            ["clients.org_id", "clients.id"],
            name="fk_sites_client",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("org_id", "id", name="uq_sites_org_id_id"),
        sa.UniqueConstraint("client_id", "code", name="uq_sites_client_id_code"),
    )

    op.create_table(
        "projects",
        _id(),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("billing_mode", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        *_timestamps(),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_projects_client"),
        sa.UniqueConstraint("org_id", "id", name="uq_projects_org_id_id"),
        sa.UniqueConstraint("org_id", "code", name="uq_projects_org_id_code"),
        sa.CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="dates"),
    )

    op.create_table(
        "people",
        _id(),
        _org(),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("cost_rate", sa.Numeric(14, 4), nullable=False),
        sa.Column("cost_currency", sa.String(3), nullable=False),
        sa.Column("weekly_capacity_hours", sa.Numeric(6, 2), nullable=False),
        sa.Column("utilization_target", sa.Numeric(4, 3), nullable=False, server_default="0.8"),
        sa.Column("country", sa.String(2)),
        sa.Column("skills", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", "id", name="uq_people_org_id_id"),
        sa.UniqueConstraint("org_id", "email", name="uq_people_org_id_email"),
        sa.CheckConstraint("cost_rate >= 0", name="cost_rate_non_negative"),
        sa.CheckConstraint("weekly_capacity_hours >= 0 AND weekly_capacity_hours <= 168", name="capacity_range"),
    )

    op.create_table(
        "audit_log",
        _id(),
        _org(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_user_id", UUID(as_uuid=True)),
        sa.Column("actor_role", sa.String(32)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("before_digest", sa.String(64)),
        sa.Column("after_digest", sa.String(64)),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["org_id", "entity_type", "entity_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("org_id", "scope", "key", name="pk_idempotency_keys"),
    )

    op.create_table(
        "billing_period_locks",
        _id(),
        _org(),
        sa.Column("client_id", UUID(as_uuid=True), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", UUID(as_uuid=True)),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_locks_client"),
        sa.UniqueConstraint("org_id", "client_id", "period", name="uq_billing_period_locks_period"),
        sa.CheckConstraint("period_end > period_start", name="period_order"),
    )
    op.create_index("ix_billing_period_locks_client", "billing_period_locks", ["org_id", "client_id", "period_start"])

    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    # The audit log is append-only for the app: no UPDATE, no DELETE.
    enable_tenant_rls("audit_log", privileges="SELECT, INSERT")

    # Users are global; the app sees a user only through a membership of the current org.
    op.execute("ALTER TABLE users ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY member_of_current_org ON users USING ("
        "EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id))"
    )
    op.execute(f'GRANT SELECT ON users TO "{APP_ROLE}"')
    # Adding a member must find-or-create a user the app cannot see yet; this definer function is the
    # only path, and it reveals nothing but the id it was asked about.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION af_ensure_user(p_id uuid, p_email text, p_name text) RETURNS uuid
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE found uuid;
        BEGIN
          INSERT INTO users (id, email, display_name) VALUES (p_id, lower(p_email), p_name)
          ON CONFLICT (email) DO NOTHING;
          SELECT id INTO found FROM users WHERE email = lower(p_email);
          RETURN found;
        END $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION af_ensure_user(uuid, text, text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION af_ensure_user(uuid, text, text) TO "{APP_ROLE}"')

    allow_owner_maintenance("idempotency_keys")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION af_purge_idempotency_keys(p_older_than interval) RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
          WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - p_older_than RETURNING 1)
          SELECT count(*) FROM gone
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION af_purge_idempotency_keys(interval) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION af_purge_idempotency_keys(interval) TO "{APP_ROLE}"')


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS af_purge_idempotency_keys(interval)")
    op.execute("DROP POLICY IF EXISTS owner_maintenance ON idempotency_keys")
    op.execute("DROP FUNCTION IF EXISTS af_ensure_user(uuid, text, text)")
    op.execute("DROP POLICY IF EXISTS member_of_current_org ON users")
    for table in (*TENANT_TABLES, "audit_log"):
        disable_tenant_rls(table)
    for table in (
        "billing_period_locks",
        "idempotency_keys",
        "audit_log",
        "people",
        "projects",
        "sites",
        "api_keys",
        "memberships",
        "clients",
        "users",
        "orgs",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS af_current_org()")
