"""Sign-in for people: login, logout, sign out everywhere, password reset, invite acceptance, TOTP.

Sign-in answers the same ``401 email or password is wrong`` whether or not the email has an account, and
spends one Argon2id verification either way (``identity.passwords.verify_absent``), so neither the message
nor the timing tells who has an account. Failures count per account (a digest of the email, existing or
not) and per client address in PostgreSQL, so every API process sees the same counts; past the limit the
next attempt answers 429 with Retry-After until the window ends. The session token is always new at login
(a token a visitor brings is never adopted, and the one presented is revoked: no session fixation) and is
renewed again when the second factor is verified.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from sqlalchemy import update

from api.auth import _client_address
from api.context import Ctx
from api.dto import Body
from api.problems import Conflict, FieldError, NotFound, ProblemError, TooManyRequests, Unauthorized, ValidationFailed
from api.sessions import SESSION_COOKIE, cleared_cookies, forbid_unless_session, session_cookies
from core.settings import Settings
from identity import totp
from identity.mailer import Mailer, MailError
from identity.messages import reset_link, reset_mail
from identity.password_policy import PasswordRejected, check_password
from identity.passwords import hash_password, needs_rehash, verify_absent, verify_password
from identity.tokens import parse_org_token
from persistence import audit
from persistence import identity_store as store
from persistence.db import tenant_session
from persistence.models import User, UserSession

log = logging.getLogger("agencyflow.auth")

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", max_length=63)]
MAIL_RETRY_AFTER_S = 30


class MailUnavailable(ProblemError):
    status, slug, title = 503, "mail-unavailable", "Mail server unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(MAIL_RETRY_AFTER_S)})


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    org: Slug | None = None
    """Which organisation to sign in to; needed only by people who belong to several."""


class SignedIn(msgspec.Struct):
    user_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    csrf_token: str
    """Send as ``X-CSRF-Token`` on every unsafe request made with the session cookie."""
    mfa_required: bool
    """True until ``POST /v1/auth/mfa/verify`` succeeds (the person has enrolled TOTP)."""
    expires_at: datetime


class AcceptInviteBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    display_name: Name
    password: Password


class ResetRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class ResetConfirmBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    password: Password


class Accepted(msgspec.Struct):
    detail: str


class MeOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    display_name: str
    org_id: uuid.UUID
    role: str
    mfa_enabled: bool
    mfa_verified_at: datetime | None


class MfaEnrolment(msgspec.Struct):
    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=12)] | None = None
    recovery_code: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class MfaConfirmed(msgspec.Struct):
    recovery_codes: list[str]
    """Shown once: each signs in once if the authenticator is lost."""
    csrf_token: str


class MfaVerified(msgspec.Struct):
    csrf_token: str
    mfa_verified_at: datetime
    recovery_codes_left: int


def _now() -> datetime:
    return datetime.now(UTC)


def mailer(settings: Settings) -> Mailer:
    return Mailer(smtp_url=settings.smtp_url, sender=settings.mail_from, outbox=settings.home / "outbox")


async def send_or_503(settings: Settings, *, to: str, subject: str, body: str) -> None:
    try:
        await mailer(settings).send(to=to, subject=subject, body=body)
    except MailError as exc:
        raise MailUnavailable(str(exc)) from exc


def _password_problem(exc: PasswordRejected) -> ValidationFailed:
    return ValidationFailed(
        "the password does not meet the policy", errors=[FieldError(pointer="/password", detail=exc.reason)]
    )


def _signed_in(request: Request[Any, Any, Any], opened: store.OpenedSession, role: str, mfa: bool) -> Response[Any]:
    settings: Settings = request.app.state.settings
    body = SignedIn(
        user_id=opened.row.user_id,
        org_id=opened.row.org_id,
        role=role,
        csrf_token=opened.csrf_token,
        mfa_required=mfa,
        expires_at=opened.row.expires_at,
    )
    return Response(
        body,
        status_code=200,
        cookies=session_cookies(request, opened.token, opened.csrf_token, settings.session_absolute_s),
    )


def _actor_for(opened: store.OpenedSession, role: str) -> audit.Actor:
    return audit.Actor(type="session", id=str(opened.row.id), user_id=opened.row.user_id, role=role)


async def _revoke_presented_session(request: Request[Any, Any, Any], session: Any, org_id: uuid.UUID) -> None:
    """A login replaces whatever session cookie came with it: never adopt, never keep a token from before."""
    presented = request.cookies.get(SESSION_COOKIE)
    parsed = parse_org_token(presented) if presented else None
    if parsed is not None and parsed[0] == org_id:
        await session.execute(
            update(UserSession)
            .where(UserSession.token_hash == parsed[1], UserSession.revoked_at.is_(None))
            .values(revoked_at=_now())
        )


_pending: set[asyncio.Task[None]] = set()


def _after_response(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` without making the caller wait (the task is kept referenced until it ends)."""
    task = asyncio.get_running_loop().create_task(work)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _audit_failed_login(sm: Any, members: list[store.LoginCandidate], address: str, reason: str) -> None:
    try:
        for member in members:
            assert member.org_id is not None
            async with tenant_session(sm, member.org_id) as s:
                await audit.record(
                    s,
                    org_id=member.org_id,
                    actor=audit.Actor(type="anonymous", id=address[:64], user_id=member.user_id),
                    action="auth.login_failed",
                    entity_type="user",
                    entity_id=member.user_id,
                    detail={"ip": address, "reason": reason},
                )
    except Exception:
        log.exception("failed sign-in not audited")


# --- login / logout --------------------------------------------------------------------------------------


@post(
    "/auth/login",
    opt={"public": True},
    dto=Body[LoginBody],
    return_dto=None,
    status_code=200,
    summary="Sign in with email and password",
)
async def login(request: Request[Any, Any, Any], data: LoginBody) -> Response[SignedIn]:
    settings: Settings = request.app.state.settings
    sm = request.app.state.sessionmaker
    now = _now()
    address = _client_address(request)
    keys = [store.account_key(data.email), store.source_key(address)]
    async with sm() as s, s.begin():
        wait = await store.locked_for(s, keys, now)
        if wait is not None:
            raise TooManyRequests(math.ceil(wait), "too many failed sign-ins; try again later")
        candidates = await store.login_candidates(s, data.email)
    stored_hash = candidates[0].password_hash if candidates else None
    if stored_hash is None:
        ok = await asyncio.to_thread(verify_absent, data.password)
    else:
        ok = await asyncio.to_thread(verify_password, stored_hash, data.password)
    members = [c for c in candidates if c.org_id is not None]
    chosen = [c for c in members if data.org is None or c.org_slug == data.org]
    if not ok or not chosen:
        window = timedelta(seconds=settings.login_lockout_s)
        async with sm() as s, s.begin():
            await store.record_failure(s, keys[0], limit=settings.login_fail_limit, window=window, now=now)
            await store.record_failure(s, keys[1], limit=settings.login_source_fail_limit, window=window, now=now)
        if members:
            # After the answer, not before it: writing these only for real accounts would make a wrong password
            # measurably slower than an unknown email.
            reason = "password" if not ok else "organisation"
            _after_response(_audit_failed_login(sm, members, address, reason))
        raise Unauthorized("email or password is wrong")
    if len(chosen) > 1:
        slugs = ", ".join(c.org_slug or "" for c in chosen)
        raise ValidationFailed(
            "you belong to several organisations: say which",
            errors=[FieldError(pointer="/org", detail=f"one of: {slugs}")],
        )
    member = chosen[0]
    assert member.org_id is not None and member.role is not None
    async with sm() as s, s.begin():
        await store.clear_failures(s, keys[0])
    async with tenant_session(sm, member.org_id) as s:
        await _revoke_presented_session(request, s, member.org_id)
        user = await store.user_in_org(s, member.user_id, for_update=True)
        assert user is not None
        if stored_hash is not None and needs_rehash(stored_hash):
            user.password_hash = await asyncio.to_thread(hash_password, data.password)
        opened = await store.open_session(
            s,
            org_id=member.org_id,
            user_id=member.user_id,
            now=now,
            absolute=timedelta(seconds=settings.session_absolute_s),
            mfa_verified=False,
            ip=address,
            user_agent=request.headers.get("user-agent"),
        )
        await audit.record(
            s,
            org_id=member.org_id,
            actor=_actor_for(opened, member.role),
            action="auth.login",
            entity_type="user",
            entity_id=member.user_id,
            detail={"ip": address, "session_id": str(opened.row.id)},
        )
        mfa = user.totp_enabled_at is not None
    return _signed_in(request, opened, member.role, mfa)


@post(
    "/auth/logout",
    opt={"action": "account.write", "mfa_pending_ok": True},
    status_code=204,
    summary="Sign out of this session",
)
async def logout(ctx: Ctx) -> Response[None]:
    session_id = forbid_unless_session(ctx.principal)
    await store.revoke_session(ctx.session, session_id, _now())
    await ctx.audit("auth.logout", "user", ctx.principal.user_id)
    return Response(None, status_code=204, cookies=cleared_cookies(ctx.request))


@post(
    "/auth/logout-everywhere",
    opt={"action": "account.write", "mfa_pending_ok": True},
    status_code=204,
    summary="Sign out of every session, in every organisation",
)
async def logout_everywhere(ctx: Ctx) -> Response[None]:
    forbid_unless_session(ctx.principal)
    assert ctx.principal.user_id is not None
    count = await store.revoke_sessions_everywhere(ctx.session, ctx.principal.user_id)
    await ctx.audit("auth.logout_everywhere", "user", ctx.principal.user_id, detail={"sessions": count})
    return Response(None, status_code=204, cookies=cleared_cookies(ctx.request))


@get("/auth/me", opt={"action": "account.read", "mfa_pending_ok": True}, summary="Who is signed in")
async def me(ctx: Ctx) -> MeOut:
    forbid_unless_session(ctx.principal)
    assert ctx.principal.user_id is not None
    user = await store.user_in_org(ctx.session, ctx.principal.user_id)
    assert user is not None
    return MeOut(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        org_id=ctx.org_id,
        role=ctx.principal.role.value,
        mfa_enabled=user.totp_enabled_at is not None,
        mfa_verified_at=ctx.principal.mfa_verified_at,
    )


# --- invites and password resets -------------------------------------------------------------------------


@post(
    "/auth/invites/accept",
    opt={"public": True},
    dto=Body[AcceptInviteBody],
    return_dto=None,
    status_code=200,
    summary="Accept an invite: set a password (or confirm yours) and sign in",
)
async def accept_invite(request: Request[Any, Any, Any], data: AcceptInviteBody) -> Response[SignedIn]:
    settings: Settings = request.app.state.settings
    parsed = parse_org_token(data.token)
    if parsed is None:
        raise NotFound("invite not found, used or expired")
    org_id, digest = parsed
    now = _now()
    async with tenant_session(request.app.state.sessionmaker, org_id) as s:
        invite = await store.open_invite(s, digest, now)
        if invite is None:
            raise NotFound("invite not found, used or expired")
        try:
            user, membership = await store.accept_invite(s, invite, display_name=data.display_name, now=now)
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        if user.password_hash is None:
            try:
                check_password(data.password, email=user.email)
            except PasswordRejected as exc:
                raise _password_problem(exc) from None
            user.password_hash = await asyncio.to_thread(hash_password, data.password)
            user.password_changed_at = now
        elif not await asyncio.to_thread(verify_password, user.password_hash, data.password):
            # A person already signed up elsewhere joins with the password they have.
            raise ValidationFailed(
                "this email already has an account",
                errors=[FieldError(pointer="/password", detail="enter the password of your existing account")],
            )
        await s.flush()
        opened = await store.open_session(
            s,
            org_id=org_id,
            user_id=user.id,
            now=now,
            absolute=timedelta(seconds=settings.session_absolute_s),
            mfa_verified=False,
            ip=_client_address(request),
            user_agent=request.headers.get("user-agent"),
        )
        await audit.record(
            s,
            org_id=org_id,
            actor=_actor_for(opened, membership.role),
            action="invite.accept",
            entity_type="membership",
            entity_id=membership.id,
            detail={"invite_id": str(invite.id), "role": membership.role},
        )
        mfa = user.totp_enabled_at is not None
    return _signed_in(request, opened, membership.role, mfa)


@post(
    "/auth/password-reset",
    opt={"public": True},
    dto=Body[ResetRequestBody],
    return_dto=None,
    status_code=202,
    summary="Mail a single-use password reset link",
)
async def request_reset(request: Request[Any, Any, Any], data: ResetRequestBody) -> Response[Accepted]:
    """Always 202 with the same text; the mail (if any) leaves after the response, so timing says nothing."""
    settings: Settings = request.app.state.settings
    async with request.app.state.sessionmaker() as s, s.begin():
        token = await store.request_password_reset(s, data.email)
    answer = Accepted(detail="if an account has this email, a reset link is on its way")
    if token is None:
        return Response(answer, status_code=202)
    subject, body = reset_mail(reset_link(settings, token))

    async def deliver() -> None:
        try:
            await mailer(settings).send(to=data.email.strip().lower(), subject=subject, body=body)
        except MailError:
            log.warning("password reset mail not sent")

    return Response(answer, status_code=202, background=BackgroundTask(deliver))


@post(
    "/auth/password-reset/confirm",
    opt={"public": True},
    dto=Body[ResetConfirmBody],
    return_dto=None,
    status_code=204,
    summary="Set a new password with a reset token (signs out every session)",
)
async def confirm_reset(request: Request[Any, Any, Any], data: ResetConfirmBody) -> Response[None]:
    try:
        check_password(data.password)
    except PasswordRejected as exc:
        raise _password_problem(exc) from None
    new_hash = await asyncio.to_thread(hash_password, data.password)
    async with request.app.state.sessionmaker() as s, s.begin():
        user_id = await store.reset_password(s, data.token, new_hash)
    if user_id is None:
        raise NotFound("reset link not found, used or expired")
    return Response(None, status_code=204)


# --- second factor ---------------------------------------------------------------------------------------


async def _me_for_update(ctx: Ctx) -> User:
    forbid_unless_session(ctx.principal)
    assert ctx.principal.user_id is not None
    user = await store.user_in_org(ctx.session, ctx.principal.user_id, for_update=True)
    assert user is not None
    return user


def _rotated(opened: store.OpenedSession | None) -> store.OpenedSession:
    if opened is None:
        raise Unauthorized("no valid session; sign in again")
    return opened


@post("/auth/mfa/enrol", opt={"action": "account.write"}, status_code=200, summary="Start TOTP enrolment")
async def mfa_enrol(ctx: Ctx) -> MfaEnrolment:
    user = await _me_for_update(ctx)
    if user.totp_enabled_at is not None:
        raise Conflict("a second factor is already enrolled")
    secret = totp.new_secret()
    user.totp_secret = ctx.secret_box.seal(secret)
    await ctx.session.flush()
    uri = totp.provisioning_uri(secret, account=user.email, issuer="agencyflow")
    await ctx.audit("auth.mfa_enrol_started", "user", user.id)
    return MfaEnrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


@post(
    "/auth/mfa/confirm",
    opt={"action": "account.write"},
    dto=Body[CodeBody],
    return_dto=None,
    status_code=200,
    summary="Confirm TOTP enrolment with a first code; returns recovery codes once",
)
async def mfa_confirm(ctx: Ctx, data: CodeBody) -> Response[MfaConfirmed]:
    user = await _me_for_update(ctx)
    if user.totp_enabled_at is not None:
        raise Conflict("a second factor is already enrolled")
    if user.totp_secret is None:
        raise Conflict("start enrolment first (POST /v1/auth/mfa/enrol)")
    now = _now()
    step = totp.verify_code(ctx.secret_box.open(user.totp_secret), data.code or "", now=now, last_step=None)
    if step is None:
        raise ValidationFailed("wrong code", errors=[FieldError(pointer="/code", detail="not the current code")])
    codes = totp.new_recovery_codes()
    user.totp_enabled_at, user.totp_last_step = now, step
    user.recovery_codes = [totp.recovery_code_digest(c) for c in codes]
    await ctx.session.flush()
    session_id = forbid_unless_session(ctx.principal)
    opened = _rotated(
        await store.rotate_session(ctx.session, session_id, org_id=ctx.org_id, now=now, mfa_verified=True)
    )
    await ctx.audit("auth.mfa_enrolled", "user", user.id)
    settings: Settings = ctx.request.app.state.settings
    return Response(
        MfaConfirmed(recovery_codes=codes, csrf_token=opened.csrf_token),
        status_code=200,
        cookies=session_cookies(ctx.request, opened.token, opened.csrf_token, settings.session_absolute_s),
    )


@post(
    "/auth/mfa/verify",
    opt={"action": "account.write", "mfa_pending_ok": True},
    dto=Body[CodeBody],
    return_dto=None,
    status_code=200,
    summary="Check the second factor (after login, or as a step-up before money actions)",
)
async def mfa_verify(ctx: Ctx, data: CodeBody) -> Response[MfaVerified]:
    settings: Settings = ctx.request.app.state.settings
    user = await _me_for_update(ctx)
    if user.totp_enabled_at is None or user.totp_secret is None:
        raise Conflict("no second factor enrolled (POST /v1/auth/mfa/enrol)")
    now = _now()
    throttle = "mfa:" + str(user.id)
    wait = await store.locked_for(ctx.session, [throttle], now)
    if wait is not None:
        raise TooManyRequests(math.ceil(wait), "too many wrong codes; try again later")
    method = "totp"
    if data.recovery_code:
        method = "recovery_code"
        digest = totp.recovery_code_digest(data.recovery_code)
        ok = digest in user.recovery_codes
        if ok:
            user.recovery_codes = [d for d in user.recovery_codes if d != digest]
    else:
        step = totp.verify_code(
            ctx.secret_box.open(user.totp_secret), data.code or "", now=now, last_step=user.totp_last_step
        )
        ok = step is not None and await store.spend_totp_step(ctx.session, user.id, step)
    if not ok:
        await store.record_failure(
            ctx.session,
            throttle,
            limit=settings.login_fail_limit,
            window=timedelta(seconds=settings.login_lockout_s),
            now=now,
        )
        await ctx.audit("auth.mfa_failed", "user", user.id, detail={"method": method})
        # Keep the failure count and its audit entry although the request fails (the rest rolls back).
        async with ctx.transaction_released():
            pass
        pointer = "/recovery_code" if data.recovery_code else "/code"
        raise ValidationFailed("wrong code", errors=[FieldError(pointer=pointer, detail="wrong or already used")])
    session_id = forbid_unless_session(ctx.principal)
    opened = _rotated(
        await store.rotate_session(ctx.session, session_id, org_id=ctx.org_id, now=now, mfa_verified=True)
    )
    await ctx.audit("auth.mfa_verified", "user", user.id, detail={"method": method})
    return Response(
        MfaVerified(csrf_token=opened.csrf_token, mfa_verified_at=now, recovery_codes_left=len(user.recovery_codes)),
        status_code=200,
        cookies=session_cookies(ctx.request, opened.token, opened.csrf_token, settings.session_absolute_s),
    )


ROUTES = [
    login,
    logout,
    logout_everywhere,
    me,
    accept_invite,
    request_reset,
    confirm_reset,
    mfa_enrol,
    mfa_confirm,
    mfa_verify,
]
