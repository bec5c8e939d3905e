"""Identity tables under the app role: RLS on invites and sessions, definer paths for sign-in and resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.ids import new_id
from identity.passwords import hash_password, is_argon2id
from identity.tokens import parse_org_token
from persistence import identity_store as store
from persistence.db import tenant_session
from persistence.models import Invite, User, UserSession
from tests.conftest import make_org


def _now() -> datetime:
    return datetime.now(UTC)


async def _member(sm: async_sessionmaker[AsyncSession], org_id, email: str, role: str = "pm"):  # type: ignore[no-untyped-def]
    async with tenant_session(sm, org_id) as s:
        invite, _ = await store.create_invite(
            s, org_id=org_id, email=email, role=role, client_id=None, invited_by=None, now=_now()
        )
        user, _ = await store.accept_invite(s, invite, display_name="Someone", now=_now())
        user.password_hash = hash_password("a passphrase for tests")
        return user.id


async def test_new_org_gets_a_single_use_owner_invite_that_names_its_org(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    org_id = new_id()
    slug = f"acme-{org_id.hex[-8:]}"
    async with tenant_session(sessionmaker, org_id) as s:
        org, invite, token = await store.create_org_with_owner_invite(
            s, org_id=org_id, name="Acme", slug=slug, owner_email="Owner@Acme.Test", now=_now()
        )
    assert org.slug == slug
    assert parse_org_token(token) == (org_id, invite.token_hash)
    assert invite.email == "owner@acme.test" and invite.role == "owner"
    async with tenant_session(sessionmaker, org_id) as s:
        found = await store.open_invite(s, invite.token_hash, _now())
        assert found is not None
        user, membership = await store.accept_invite(s, found, display_name="Olga", now=_now())
        assert membership.role == "owner" and user.email == "owner@acme.test"
    async with tenant_session(sessionmaker, org_id) as s:
        assert await store.open_invite(s, invite.token_hash, _now()) is None  # spent
    # Another org's transaction sees neither the invite nor the user.
    other = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, other.id) as s:
        assert (await s.execute(select(Invite).where(Invite.id == invite.id))).first() is None
        assert (await s.execute(select(User).where(User.id == user.id))).first() is None


async def test_taken_slug_is_refused_by_the_database(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    existing = await make_org(sessionmaker)
    org_id = new_id()
    with pytest.raises(DBAPIError) as err:
        async with tenant_session(sessionmaker, org_id) as s:
            await store.create_org_with_owner_invite(
                s, org_id=org_id, name="Dup", slug=existing.slug, owner_email="a@b.test", now=_now()
            )
    assert "uq_orgs_slug" in str(err.value) or "orgs_slug_key" in str(err.value)


async def test_expired_invite_cannot_be_accepted(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as s:
        invite, _ = await store.create_invite(
            s,
            org_id=org.id,
            email="late@acme.test",
            role="pm",
            client_id=None,
            invited_by=None,
            now=_now() - timedelta(days=8),
        )
    async with tenant_session(sessionmaker, org.id) as s:
        assert await store.open_invite(s, invite.token_hash, _now()) is None


async def test_login_candidates_find_a_person_across_orgs_by_email_in_any_case(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    a, b = await make_org(sessionmaker), await make_org(sessionmaker)
    email = f"multi-{new_id().hex[:8]}@agency.test"
    user_a = await _member(sessionmaker, a.id, email, "finance")
    user_b = await _member(sessionmaker, b.id, email, "pm")
    assert user_a == user_b
    async with sessionmaker() as s, s.begin():
        found = await store.login_candidates(s, email.upper())
        assert {(c.org_id, c.role) for c in found} == {(a.id, "finance"), (b.id, "pm")}
        assert all(c.password_hash and is_argon2id(c.password_hash) for c in found)
        assert await store.login_candidates(s, "nobody@agency.test") == []


async def test_app_role_cannot_read_password_resets_or_another_orgs_sessions(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker)
    user_id = await _member(sessionmaker, org.id, f"r-{new_id().hex[:8]}@agency.test")
    async with tenant_session(sessionmaker, org.id) as s:
        opened = await store.open_session(
            s,
            org_id=org.id,
            user_id=user_id,
            now=_now(),
            absolute=timedelta(hours=1),
            mfa_verified=False,
            ip="127.0.0.1",
            user_agent="pytest",
        )
    other = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, other.id) as s:
        assert (await s.execute(select(UserSession).where(UserSession.id == opened.row.id))).first() is None
    with pytest.raises(DBAPIError, match="permission denied"):
        async with sessionmaker() as s, s.begin():
            await s.execute(text("SELECT * FROM password_resets"))


async def test_password_reset_is_single_use_and_signs_out_everywhere(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker)
    email = f"reset-{new_id().hex[:8]}@agency.test"
    user_id = await _member(sessionmaker, org.id, email)
    async with tenant_session(sessionmaker, org.id) as s:
        opened = await store.open_session(
            s,
            org_id=org.id,
            user_id=user_id,
            now=_now(),
            absolute=timedelta(hours=1),
            mfa_verified=False,
            ip=None,
            user_agent=None,
        )
    async with sessionmaker() as s, s.begin():
        assert await store.request_password_reset(s, "nobody@agency.test") is None
        first = await store.request_password_reset(s, email)
        token = await store.request_password_reset(s, email.upper())
        assert first and token
    new_hash = hash_password("a brand new passphrase")
    async with sessionmaker() as s, s.begin():
        assert await store.reset_password(s, first, new_hash) is None  # voided by the newer request
        assert await store.reset_password(s, token, new_hash) == user_id
        assert await store.reset_password(s, token, new_hash) is None  # single use
    async with tenant_session(sessionmaker, org.id) as s:
        row = (await s.execute(select(UserSession).where(UserSession.id == opened.row.id))).scalar_one()
        assert row.revoked_at is not None
        user = await store.user_in_org(s, user_id)
        assert user is not None and user.password_hash == new_hash


async def test_throttle_locks_after_the_limit_and_unlocks_after_the_window(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    key = store.account_key(f"t-{new_id().hex[:8]}@agency.test")
    t0 = _now()
    window = timedelta(seconds=60)
    async with sessionmaker() as s, s.begin():
        for i in range(3):
            assert await store.locked_for(s, [key], t0) is None
            await store.record_failure(s, key, limit=3, window=window, now=t0 + timedelta(seconds=i))
        wait = await store.locked_for(s, [key], t0 + timedelta(seconds=3))
        assert wait is not None and 58 <= wait <= 60
        assert await store.locked_for(s, [key], t0 + timedelta(seconds=63)) is None
        # After the window a failure starts a new count instead of re-locking at once.
        await store.record_failure(s, key, limit=3, window=window, now=t0 + timedelta(seconds=70))
        assert await store.locked_for(s, [key], t0 + timedelta(seconds=70)) is None
        await store.clear_failures(s, key)
        count = (await s.execute(text("SELECT count(*) FROM login_throttle WHERE key = :k"), {"k": key})).scalar_one()
        assert count == 0


async def test_a_totp_step_is_spent_once(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    org = await make_org(sessionmaker)
    user_id = await _member(sessionmaker, org.id, f"totp-{new_id().hex[:8]}@agency.test")
    async with tenant_session(sessionmaker, org.id) as s:
        assert await store.spend_totp_step(s, user_id, 1000)
        assert not await store.spend_totp_step(s, user_id, 1000)
        assert not await store.spend_totp_step(s, user_id, 999)
        assert await store.spend_totp_step(s, user_id, 1001)
