"""identity: credentials on users, invites, server-side sessions, password resets, login throttle, MFA policy

Users stay global. Sign-in must find a user by email before any org is known, so that lookup is a
``SECURITY DEFINER`` function (``af_login_candidates``) returning the user's hash and memberships and
nothing else; password resets live in a table the app cannot touch at all except through two definer
functions (request, consume). The app may update a user's credential columns only when that user is a
member of the current org (the existing ``member_of_current_org`` policy, now also for UPDATE).

Revision ID: i1_0010_identity
Revises: h1_0009_webhook_dispatch
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from core.settings import APP_ROLE, OWNER_ROLE
from persistence.migrations.rls import allow_owner_maintenance, disable_tenant_rls, enable_tenant_rls

revision = "i1_0010_identity"
down_revision = "h1_0009_webhook_dispatch"
branch_labels = None
depends_on = None

_CREDENTIAL_COLUMNS = (
    "display_name, password_hash, password_changed_at, totp_secret, totp_enabled_at, totp_last_step, "
    "recovery_codes, updated_at"
)

LOGIN_CANDIDATES = """
CREATE FUNCTION af_login_candidates(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, org_id uuid, org_slug text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.id, u.password_hash, m.org_id, o.slug, m.role
  FROM users u
  LEFT JOIN memberships m ON m.user_id = u.id
  LEFT JOIN orgs o ON o.id = m.org_id
  WHERE lower(u.email) = lower(p_email)
  ORDER BY o.slug
$$
"""

REQUEST_RESET = """
CREATE FUNCTION af_request_password_reset(p_email text, p_id uuid, p_token_hash text, p_ttl interval)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE found uuid;
BEGIN
  SELECT id INTO found FROM users WHERE lower(email) = lower(p_email) AND password_hash IS NOT NULL;
  IF found IS NULL THEN
    RETURN NULL;
  END IF;
  -- One live reset per person: a new request voids the earlier links.
  UPDATE password_resets SET used_at = now() WHERE user_id = found AND used_at IS NULL;
  INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at)
  VALUES (p_id, found, p_token_hash, now(), now() + p_ttl);
  RETURN found;
END $$
"""

CONSUME_RESET = """
CREATE FUNCTION af_reset_password(p_token_hash text, p_password_hash text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE found uuid;
BEGIN
  UPDATE password_resets SET used_at = now()
  WHERE token_hash = p_token_hash AND used_at IS NULL AND expires_at > now()
  RETURNING user_id INTO found;
  IF found IS NULL THEN
    RETURN NULL;
  END IF;
  UPDATE users SET password_hash = p_password_hash, password_changed_at = now(), updated_at = now()
  WHERE id = found;
  -- Whoever knew the old password is signed out everywhere.
  UPDATE user_sessions SET revoked_at = now() WHERE user_id = found AND revoked_at IS NULL;
  RETURN found;
END $$
"""

REVOKE_SESSIONS = """
CREATE FUNCTION af_revoke_user_sessions(p_user uuid) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (
    UPDATE user_sessions SET revoked_at = now() WHERE user_id = p_user AND revoked_at IS NULL RETURNING 1
  )
  SELECT count(*) FROM gone
$$
"""

_FUNCTIONS = {
    "af_login_candidates(text)": LOGIN_CANDIDATES,
    "af_request_password_reset(text, uuid, text, interval)": REQUEST_RESET,
    "af_reset_password(text, text)": CONSUME_RESET,
    "af_revoke_user_sessions(uuid)": REVOKE_SESSIONS,
}


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", UUID(as_uuid=True), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text()))
    op.add_column("users", sa.Column("password_changed_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("totp_secret", sa.Text()))
    op.add_column("users", sa.Column("totp_enabled_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger()))
    op.add_column("users", sa.Column("recovery_codes", ARRAY(sa.String(64)), nullable=False, server_default="{}"))
    # Emails are stored lower-cased (af_ensure_user); this makes "Maria@X" and "maria@x" one person for good.
    op.execute("CREATE UNIQUE INDEX uq_users_lower_email ON users (lower(email))")
    op.execute(f'GRANT UPDATE ({_CREDENTIAL_COLUMNS}) ON users TO "{APP_ROLE}"')

    op.create_table(
        "invites",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("client_id", UUID(as_uuid=True)),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("accepted_user_id", UUID(as_uuid=True), sa.ForeignKey("users.id")),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("invited_by", UUID(as_uuid=True), sa.ForeignKey("users.id")),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        *_timestamps(),
        sa.ForeignKeyConstraint(["org_id", "client_id"], ["clients.org_id", "clients.id"], name="fk_invites_client"),
    )
    op.create_index("ix_invites_org_email", "invites", ["org_id", "email"])

    op.create_table(
        "user_sessions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mfa_verified_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(400)),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])

    op.create_table(
        "identity_policies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("mfa_roles", ARRAY(sa.String(32)), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        *_timestamps(),
        sa.UniqueConstraint("org_id", name="uq_identity_policies_org_id"),
    )

    for table in ("invites", "user_sessions", "identity_policies"):
        enable_tenant_rls(table)
    allow_owner_maintenance("user_sessions")

    op.create_table(
        "password_resets",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    # No grant and no policy: only the definer functions below read or write it.
    op.execute("ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY")

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
    )
    # Counters keyed by digests of emails and by client addresses: no tenant data, so no tenant policy.
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO "{APP_ROLE}"')

    for signature, body in _FUNCTIONS.items():
        op.execute(body)
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{APP_ROLE}"')
    # The login lookup reads memberships and orgs of every tenant; their FORCEd policies need a way in for it.
    allow_owner_maintenance("memberships")
    op.execute(f'CREATE POLICY owner_maintenance ON orgs TO "{OWNER_ROLE}" USING (true) WITH CHECK (true)')


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS owner_maintenance ON orgs")
    op.execute("DROP POLICY IF EXISTS owner_maintenance ON memberships")
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_table("login_throttle")
    op.drop_table("password_resets")
    op.execute("DROP POLICY IF EXISTS owner_maintenance ON user_sessions")
    for table in ("identity_policies", "user_sessions", "invites"):
        disable_tenant_rls(table)
        op.drop_table(table)
    op.execute(f'REVOKE UPDATE ({_CREDENTIAL_COLUMNS}) ON users FROM "{APP_ROLE}"')
    op.execute("DROP INDEX IF EXISTS uq_users_lower_email")
    for column in ("recovery_codes", "totp_last_step", "totp_enabled_at", "totp_secret", "password_changed_at"):
        op.drop_column("users", column)
    op.drop_column("users", "password_hash")
