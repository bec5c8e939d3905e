"""Browser sessions: the ``af_session`` cookie as a second way to authenticate, CSRF, and MFA step-up.

The cookie holds ``<org hex>.<secret>``; only its SHA-256 is stored, in ``user_sessions`` under the org's
row-level security, so a lookup never crosses tenants. A session acts as its member: the role is read from
the membership on every request, so removing a member or changing their role takes effect at once.

CSRF: a cookie is sent by the browser whatever page caused the request, so every unsafe request
authenticated by the cookie must also carry ``X-CSRF-Token``, whose value only our own pages can read (from
the login response, or the ``af_csrf`` cookie that is not HttpOnly); it is checked against the digest stored
with the session. API keys in the ``Authorization`` header are not sent by browsers on their own and need
no such token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from api.problems import Forbidden, ProblemError, Unauthorized
from core.permissions import STEP_UP_ACTIONS, Role, Scope
from core.settings import Settings
from identity.tokens import parse_org_token, same_digest, token_digest
from persistence.db import raw_tenant_transaction

SESSION_COOKIE = "af_session"
CSRF_COOKIE = "af_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SCOPES = frozenset({Scope.READ.value, Scope.WRITE.value})
_TOUCH_EVERY = timedelta(seconds=30)

_LOOKUP = """
SELECT s.id, s.user_id, s.csrf_hash, s.last_seen_at, s.expires_at, s.mfa_verified_at, s.revoked_at,
       m.role, m.client_id, m.scope_client_ids, m.scope_project_ids, u.totp_enabled_at,
       COALESCE((SELECT p.mfa_roles FROM identity_policies p), ARRAY['owner', 'admin', 'finance']) AS mfa_roles
FROM user_sessions s
JOIN memberships m ON m.user_id = s.user_id
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1 AND NOT EXISTS (SELECT 1 FROM orgs o WHERE o.deleted_at IS NOT NULL)
"""
_TOUCH = "UPDATE user_sessions SET last_seen_at = $2 WHERE id = $1"
_EXPIRE = "UPDATE user_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"


class MfaRequired(ProblemError):
    """403 telling a browser what second-factor step to take before retrying."""

    status, slug, title = 403, "mfa-required", "Second factor required"


class CsrfRejected(ProblemError):
    status, slug, title = 403, "csrf", "Missing or wrong CSRF token"


def session_cookies(request: Request[Any, Any, Any], token: str, csrf_token: str, max_age_s: int) -> list[Cookie]:
    """The session cookie (HttpOnly) and the CSRF cookie (readable by our scripts), Secure over https."""
    secure = request.url.scheme == "https"
    return [
        Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="lax", secure=secure, max_age=max_age_s),
        Cookie(key=CSRF_COOKIE, value=csrf_token, httponly=False, samesite="lax", secure=secure, max_age=max_age_s),
    ]


def cleared_cookies(request: Request[Any, Any, Any]) -> list[Cookie]:
    secure = request.url.scheme == "https"
    return [
        Cookie(key=name, value="", httponly=name == SESSION_COOKIE, samesite="lax", secure=secure, max_age=0)
        for name in (SESSION_COOKIE, CSRF_COOKIE)
    ]


async def session_principal(request: Request[Any, Any, Any], settings: Settings, cookie: str) -> Any:
    """The principal behind a session cookie; raises 401 for an unknown, revoked or timed-out session and
    403 for an unsafe request without the CSRF token or a session still waiting for its second factor."""
    from api.auth import Principal, member_scope  # api.auth imports this module for the cookie path

    parsed = parse_org_token(cookie)
    if parsed is None:
        raise Unauthorized("no valid session; sign in again")
    org_id, digest = parsed
    now = datetime.now(UTC)
    async with raw_tenant_transaction(request.app.state.sessionmaker, org_id) as conn:
        row = await conn.fetchrow(_LOOKUP, digest)
        if row is None or row["revoked_at"] is not None:
            raise Unauthorized("no valid session; sign in again")
        idle = timedelta(seconds=settings.session_idle_s)
        if now >= row["expires_at"] or now - row["last_seen_at"] >= idle:
            await conn.execute(_EXPIRE, row["id"], now)
            expired = True
        else:
            expired = False
            if now - row["last_seen_at"] >= _TOUCH_EVERY:
                await conn.execute(_TOUCH, row["id"], now)
    if expired:
        raise Unauthorized("session timed out; sign in again")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not sent or not same_digest(token_digest(sent), row["csrf_hash"]):
            raise CsrfRejected(f"unsafe requests signed in by cookie must send the {CSRF_HEADER} header")
    pending = row["totp_enabled_at"] is not None and row["mfa_verified_at"] is None
    if pending and not request.route_handler.opt.get("mfa_pending_ok"):
        raise MfaRequired("enter a code from your authenticator (POST /v1/auth/mfa/verify) first")
    scope = member_scope(row["scope_client_ids"], row["scope_project_ids"])
    return Principal(
        org_id=org_id,
        key_id=row["id"],
        role=Role(row["role"]),
        scopes=SESSION_SCOPES,
        user_id=row["user_id"],
        client_id=row["client_id"],
        session_id=row["id"],
        mfa_enabled=row["totp_enabled_at"] is not None,
        mfa_verified_at=row["mfa_verified_at"],
        mfa_roles=frozenset(row["mfa_roles"]),
        scope_clients=scope[0],
        scope_projects=scope[1],
    )


def require_step_up(principal: Any, action: str, settings: Settings) -> None:
    """Money actions by a session whose role the org's policy holds to MFA need a recent second factor."""
    if principal.session_id is None or action not in STEP_UP_ACTIONS:
        return
    if principal.role.value not in principal.mfa_roles:
        return
    if not principal.mfa_enabled:
        raise MfaRequired(
            f"role {principal.role.value} must enrol a second factor (POST /v1/auth/mfa/enrol) before {action}",
            slug="mfa-enrolment-required",
        )
    window = timedelta(seconds=settings.mfa_step_up_s)
    verified = principal.mfa_verified_at
    if verified is None or datetime.now(UTC) - verified > window:
        raise MfaRequired(
            f"{action} needs a second-factor check within the last {settings.mfa_step_up_s // 60} minutes "
            "(POST /v1/auth/mfa/verify)",
            slug="mfa-step-up-required",
        )


def forbid_unless_session(principal: Any) -> uuid.UUID:
    """The session id, or 403 for an API key calling a browser-session route."""
    if principal.session_id is None:
        raise Forbidden("this route is for signed-in people, not API keys")
    session_id: uuid.UUID = principal.session_id
    return session_id
