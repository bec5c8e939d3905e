"""People in the database: organisations with their first owner, invites, sessions, resets, throttling.

Shared by the API and the CLI so both create orgs and invites the same way. Everything takes the caller's
session and commits nothing itself; tenant functions expect a transaction bound to the org
(``persistence.db.tenant_session``), the sign-in ones (candidates, throttle, resets) a plain one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from identity.tokens import new_org_token, new_token, token_digest
from persistence.models import ApiKey, IdentityPolicy, Invite, LoginThrottle, Membership, Org, User, UserSession
from persistence.models.identity import DEFAULT_MFA_ROLES

INVITE_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """One membership of the person behind an email (org fields None for a person with no membership)."""

    user_id: uuid.UUID
    password_hash: str | None
    org_id: uuid.UUID | None
    org_slug: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class OpenedSession:
    row: UserSession
    token: str
    csrf_token: str


# --- organisations ---------------------------------------------------------------------------------------


async def create_org_with_owner_invite(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    name: str,
    slug: str,
    owner_email: str,
    default_currency: str = "USD",
    timezone: str = "UTC",
    now: datetime,
) -> tuple[Org, Invite, str]:
    """A new org and a single-use invite making ``owner_email`` its owner; returns the invite token.

    ``session`` must be bound to ``org_id`` already (row-level security checks the new org's row against it).
    A taken slug raises the database's unique violation; callers turn it into a conflict.
    """
    org = Org(id=org_id, name=name, slug=slug, default_currency=default_currency, timezone=timezone)
    session.add(org)
    await session.flush()
    invite, token = await create_invite(
        session, org_id=org_id, email=owner_email, role="owner", client_id=None, invited_by=None, now=now
    )
    return org, invite, token


# --- invites ---------------------------------------------------------------------------------------------


async def create_invite(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str,
    role: str,
    client_id: uuid.UUID | None,
    invited_by: uuid.UUID | None,
    now: datetime,
    ttl: timedelta = INVITE_TTL,
    scope_client_ids: Sequence[uuid.UUID] = (),
    scope_project_ids: Sequence[uuid.UUID] = (),
) -> tuple[Invite, str]:
    """A fresh invite; earlier open invites of the same email to this org stop working (one live link)."""
    email = email.strip().lower()
    await session.execute(
        update(Invite)
        .where(Invite.email == email, Invite.accepted_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token, digest = new_org_token(org_id)
    invite = Invite(
        org_id=org_id,
        email=email,
        role=role,
        client_id=client_id,
        token_hash=digest,
        expires_at=now + ttl,
        invited_by=invited_by,
        scope_client_ids=list(scope_client_ids),
        scope_project_ids=list(scope_project_ids),
    )
    session.add(invite)
    await session.flush()
    return invite, token


async def open_invite(session: AsyncSession, digest: str, now: datetime) -> Invite | None:
    """The unaccepted, unrevoked, unexpired invite with this token digest, locked for accepting."""
    return (
        await session.execute(
            select(Invite)
            .where(
                Invite.token_hash == digest,
                Invite.accepted_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.expires_at > now,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()


async def accept_invite(
    session: AsyncSession, invite: Invite, *, display_name: str, now: datetime
) -> tuple[User, Membership]:
    """Make the invited email a member with the invite's role (the user row is created if new) and spend
    the invite. Raises ``ValueError`` if that person is already a member of this org."""
    user_id = (
        await session.execute(
            text("SELECT af_ensure_user(:id, :email, :name)"),
            {"id": new_id(), "email": invite.email, "name": display_name},
        )
    ).scalar_one()
    existing = (await session.execute(select(Membership.id).where(Membership.user_id == user_id))).scalar_one_or_none()
    if existing is not None:
        raise ValueError("already a member of this organisation")
    membership = Membership(
        org_id=invite.org_id,
        user_id=user_id,
        role=invite.role,
        client_id=invite.client_id,
        scope_client_ids=list(invite.scope_client_ids),
        scope_project_ids=list(invite.scope_project_ids),
    )
    session.add(membership)
    invite.accepted_at = now
    invite.accepted_user_id = user_id
    await session.flush()
    user = (await session.execute(select(User).where(User.id == user_id))).scalar_one()
    return user, membership


# --- users -----------------------------------------------------------------------------------------------


async def user_in_org(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    """The user, if a member of the session's org (row-level security hides everyone else)."""
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def spend_totp_step(session: AsyncSession, user_id: uuid.UUID, step: int) -> bool:
    """Record ``step`` as used; False if it (or a later one) was already used, so a code is accepted once
    even by two requests racing with it."""
    result = await session.execute(
        text(
            "UPDATE users SET totp_last_step = :step, updated_at = now() "
            "WHERE id = :id AND (totp_last_step IS NULL OR totp_last_step < :step)"
        ),
        {"id": user_id, "step": step},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def login_candidates(session: AsyncSession, email: str) -> list[LoginCandidate]:
    """Every membership of the person with this email, across orgs (definer function: no org is known yet)."""
    rows = (await session.execute(text("SELECT * FROM af_login_candidates(:email)"), {"email": email})).all()
    return [LoginCandidate(r.user_id, r.password_hash, r.org_id, r.org_slug, r.role) for r in rows]


# --- sessions --------------------------------------------------------------------------------------------


async def open_session(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
    absolute: timedelta,
    mfa_verified: bool,
    ip: str | None,
    user_agent: str | None,
) -> OpenedSession:
    """A new server-side session with fresh tokens; the caller sets them as cookies."""
    token, digest = new_org_token(org_id)
    csrf_token, csrf_digest = new_token()
    row = UserSession(
        org_id=org_id,
        user_id=user_id,
        token_hash=digest,
        csrf_hash=csrf_digest,
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute,
        mfa_verified_at=now if mfa_verified else None,
        ip=ip,
        user_agent=(user_agent or "")[:400] or None,
    )
    session.add(row)
    await session.flush()
    return OpenedSession(row, token, csrf_token)


async def rotate_session(
    session: AsyncSession, session_id: uuid.UUID, *, org_id: uuid.UUID, now: datetime, mfa_verified: bool
) -> OpenedSession | None:
    """New token and CSRF token for the same session (at a privilege change: the old token stops working)."""
    row = (
        await session.execute(select(UserSession).where(UserSession.id == session_id).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    token, digest = new_org_token(org_id)
    csrf_token, csrf_digest = new_token()
    row.token_hash, row.csrf_hash, row.last_seen_at = digest, csrf_digest, now
    if mfa_verified:
        row.mfa_verified_at = now
    await session.flush()
    return OpenedSession(row, token, csrf_token)


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(UserSession).where(UserSession.id == session_id, UserSession.revoked_at.is_(None)).values(revoked_at=now)
    )


async def revoke_sessions_everywhere(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Sign the person out of every org (definer function: their sessions elsewhere are not visible here)."""
    count = (await session.execute(text("SELECT af_revoke_user_sessions(:user_id)"), {"user_id": user_id})).scalar_one()
    return int(count)


async def revoke_member_sessions(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    """End a member's sessions in the session's org (a role change: they sign in again under the new one)."""
    result = await session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke_member_access(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> tuple[int, int]:
    """End a member's sessions and personal API keys in the session's org: ``(sessions, keys)`` revoked."""
    sessions = await session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    keys = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now, version=ApiKey.version + 1)
    )
    return int(sessions.rowcount), int(keys.rowcount)  # type: ignore[attr-defined]


# --- password resets -------------------------------------------------------------------------------------


async def request_password_reset(session: AsyncSession, email: str, ttl: timedelta = RESET_TTL) -> str | None:
    """A reset token for the person with this email (None if there is no such person with a password)."""
    token, digest = new_token()
    found = (
        await session.execute(
            text("SELECT af_request_password_reset(:email, :id, :digest, :ttl)"),
            {"email": email.strip(), "id": new_id(), "digest": digest, "ttl": ttl},
        )
    ).scalar_one()
    return token if found is not None else None


async def reset_password(session: AsyncSession, token: str, password_hash: str) -> uuid.UUID | None:
    """Spend the reset token and set the new hash (signing the person out everywhere); None if the token is
    unknown, used or expired."""
    found: uuid.UUID | None = (
        await session.execute(
            text("SELECT af_reset_password(:digest, :hash)"), {"digest": token_digest(token), "hash": password_hash}
        )
    ).scalar_one()
    return found


# --- login throttling ------------------------------------------------------------------------------------


def account_key(email: str) -> str:
    """Throttle key of an email, whether or not anyone has it (so locking reveals nothing)."""
    return "acct:" + token_digest(email.strip().lower())


def source_key(address: str) -> str:
    return "src:" + address[:70]


async def locked_for(session: AsyncSession, keys: Sequence[str], now: datetime) -> float | None:
    """Seconds until the latest lock among ``keys`` ends, None if none is locked."""
    rows = (
        await session.execute(
            text("SELECT max(locked_until) FROM login_throttle WHERE key = ANY(:keys) AND locked_until > :now"),
            {"keys": list(keys), "now": now},
        )
    ).scalar_one()
    return None if rows is None else max((rows - now).total_seconds(), 1.0)


async def record_failure(session: AsyncSession, key: str, *, limit: int, window: timedelta, now: datetime) -> None:
    """Count one failure for ``key`` in the current window; the ``limit``-th locks it for ``window``."""
    await session.execute(
        text(
            """
            INSERT INTO login_throttle AS t (key, failures, window_started_at, locked_until)
            VALUES (:key, 1, :now, CASE WHEN 1 >= :limit THEN CAST(:now AS timestamptz) + :window END)
            ON CONFLICT (key) DO UPDATE SET
              failures = CASE WHEN t.window_started_at + :window <= :now THEN 1 ELSE t.failures + 1 END,
              window_started_at = CASE WHEN t.window_started_at + :window <= :now THEN :now
                                       ELSE t.window_started_at END,
              locked_until = CASE
                WHEN (CASE WHEN t.window_started_at + :window <= :now THEN 1 ELSE t.failures + 1 END) >= :limit
                THEN CAST(:now AS timestamptz) + :window
                ELSE NULL END
            """
        ),
        {"key": key, "now": now, "limit": limit, "window": window},
    )


async def clear_failures(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


# --- org policy ------------------------------------------------------------------------------------------


async def mfa_roles(session: AsyncSession) -> frozenset[str]:
    """Roles that must pass MFA for money actions in the session's org (default owner, admin, finance)."""
    roles = (await session.execute(select(IdentityPolicy.mfa_roles))).scalar_one_or_none()
    return frozenset(DEFAULT_MFA_ROLES if roles is None else roles)


__all__ = [
    "INVITE_TTL",
    "RESET_TTL",
    "LoginCandidate",
    "OpenedSession",
    "accept_invite",
    "account_key",
    "clear_failures",
    "create_invite",
    "create_org_with_owner_invite",
    "locked_for",
    "login_candidates",
    "mfa_roles",
    "open_invite",
    "open_session",
    "record_failure",
    "request_password_reset",
    "reset_password",
    "revoke_member_access",
    "revoke_member_sessions",
    "revoke_session",
    "revoke_sessions_everywhere",
    "rotate_session",
    "source_key",
    "spend_totp_step",
    "user_in_org",
]
