"""Invites by email with a role, and organisations created by the platform operator.

An invite is a single-use, expiring link mailed to the person (``api.routes.auth.accept_invite`` spends it).
The token is shown to nobody but the mail's recipient; the org only sees the invite's id, email and state.

``POST /v1/platform/orgs`` is for whoever runs the installation (a bearer token from
``AGENCYFLOW_PLATFORM_TOKEN``), not for tenants: it creates an organisation and mails its owner's invite.
Unset, the route answers 404 as if it did not exist.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api.auth import _client_address
from api.context import Ctx
from api.dto import Body
from api.member_scope import ScopeIds, check_scope_ids, scope_problems
from api.platform import platform_operator
from api.problems import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    TooManyRequests,
    ValidationFailed,
    not_found,
)
from api.resources import get_row
from api.routes.auth import Email, Name, Slug, send_or_503
from core.ids import new_id
from core.permissions import Role
from core.settings import Settings
from identity.messages import invite_link, invite_mail
from persistence import audit
from persistence import identity_store as store
from persistence.db import sqlstate, tenant_session
from persistence.models import Client, Invite, Membership, Org, User

Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
Timezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class InviteCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Role
    client_id: uuid.UUID | None = None
    scope_client_ids: ScopeIds = msgspec.field(default_factory=list)
    scope_project_ids: ScopeIds = msgspec.field(default_factory=list)
    """The member will reach only these clients/projects (``api.member_scope``); both empty: the whole role."""

    def problems(self) -> list[FieldError]:
        return scope_problems(self.role, self.scope_client_ids, self.scope_project_ids)


class InviteOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    role: str
    client_id: uuid.UUID | None
    scope_client_ids: list[uuid.UUID]
    scope_project_ids: list[uuid.UUID]
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class PlatformOrgCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    slug: Slug
    owner_email: Email
    default_currency: Currency = "USD"
    timezone: Timezone = "UTC"


class PlatformOrgOut(msgspec.Struct):
    org_id: uuid.UUID
    slug: str
    owner_email: str
    invite_url: str
    """Shown once, and mailed to the owner."""
    invite_expires_at: datetime


def _out(invite: Invite) -> InviteOut:
    return InviteOut(
        id=invite.id,
        email=invite.email,
        role=invite.role,
        client_id=invite.client_id,
        scope_client_ids=list(invite.scope_client_ids),
        scope_project_ids=list(invite.scope_project_ids),
        expires_at=invite.expires_at,
        accepted_at=invite.accepted_at,
        revoked_at=invite.revoked_at,
    )


@post(
    "/invites",
    opt={"action": "memberships.write"},
    dto=Body[InviteCreate],
    return_dto=None,
    status_code=201,
    summary="Invite someone by email with a role",
)
async def create_invite(ctx: Ctx, data: InviteCreate) -> Response[InviteOut]:
    if data.role is Role.OWNER and ctx.principal.role is not Role.OWNER:
        raise Forbidden("only an owner may grant the owner role")
    if (data.role is Role.CLIENT_VIEWER) != (data.client_id is not None):
        detail = "a client_viewer must be bound to a client" if data.client_id is None else "only a client_viewer is"
        raise ValidationFailed(
            "role and client do not fit together", errors=[FieldError(pointer="/client_id", detail=detail)]
        )
    if data.client_id is not None:
        await get_row(ctx, Client, data.client_id, "client")
    await check_scope_ids(ctx, data.scope_client_ids, data.scope_project_ids)
    email = data.email.strip().lower()
    member = (
        await ctx.session.execute(
            select(Membership.id).join(User, User.id == Membership.user_id).where(func.lower(User.email) == email)
        )
    ).scalar_one_or_none()
    if member is not None:
        raise Conflict(f"{email} is already a member (membership {member})")
    now = datetime.now(UTC)
    invite, token = await store.create_invite(
        ctx.session,
        org_id=ctx.org_id,
        email=email,
        role=data.role.value,
        client_id=data.client_id,
        invited_by=ctx.principal.user_id,
        now=now,
        scope_client_ids=data.scope_client_ids,
        scope_project_ids=data.scope_project_ids,
    )
    org_name = (await ctx.session.execute(select(Org.name))).scalar_one()
    settings: Settings = ctx.request.app.state.settings
    subject, body = invite_mail(org_name, invite.role, invite_link(settings, token), invite.expires_at)
    await ctx.audit("invite.create", "invite", invite.id, after={"email": email, "role": invite.role})
    # Mail before commit: if the server is down the invite is not left behind, and the caller gets 503.
    await send_or_503(settings, to=email, subject=subject, body=body)
    return Response(_out(invite), status_code=201, headers={"Location": f"/v1/invites/{invite.id}"})


@get("/invites", opt={"action": "memberships.read"}, summary="Open invites")
async def list_invites(ctx: Ctx) -> list[InviteOut]:
    rows = (
        await ctx.session.execute(
            select(Invite)
            .where(Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > func.now())
            .order_by(Invite.created_at)
        )
    ).scalars()
    return [_out(i) for i in rows]


@delete("/invites/{invite_id:uuid}", opt={"action": "memberships.write"}, status_code=204, summary="Revoke an invite")
async def revoke_invite(ctx: Ctx, invite_id: uuid.UUID) -> Response[None]:
    invite = (
        await ctx.session.execute(select(Invite).where(Invite.id == invite_id).with_for_update())
    ).scalar_one_or_none()
    if invite is None:
        raise not_found("invite", invite_id)
    if invite.accepted_at is None and invite.revoked_at is None:
        invite.revoked_at = datetime.now(UTC)
        await ctx.session.flush()
        await ctx.audit("invite.revoke", "invite", invite.id)
    return Response(None, status_code=204)


class SignupBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    slug: Slug
    email: Email
    default_currency: Currency = "USD"
    timezone: Timezone = "UTC"


async def _create_org(
    request: Request[Any, Any, Any],
    *,
    name: str,
    slug: str,
    owner_email: str,
    currency: str,
    timezone: str,
    actor: audit.Actor,
) -> tuple[uuid.UUID, str, str, datetime]:
    """The org and its owner's mailed invite, in one transaction (mail down: nothing is created, 503)."""
    settings: Settings = request.app.state.settings
    org_id = new_id()
    try:
        async with tenant_session(request.app.state.sessionmaker, org_id) as s:
            org, invite, token = await store.create_org_with_owner_invite(
                s,
                org_id=org_id,
                name=name,
                slug=slug,
                owner_email=owner_email,
                default_currency=currency,
                timezone=timezone,
                now=datetime.now(UTC),
            )
            await audit.record(
                s,
                org_id=org_id,
                actor=actor,
                action="org.create",
                entity_type="org",
                entity_id=org_id,
                after={"slug": org.slug, "owner_email": invite.email},
            )
            link = invite_link(settings, token)
            subject, body = invite_mail(org.name, "owner", link, invite.expires_at)
            await send_or_503(settings, to=invite.email, subject=subject, body=body)
    except IntegrityError as exc:
        if sqlstate(exc) == "23505":
            raise Conflict(
                f"slug {slug!r} is taken", errors=[FieldError(pointer="/slug", detail="already in use")]
            ) from None
        raise
    return org_id, invite.email, link, invite.expires_at


@post(
    "/platform/orgs",
    opt={"public": True},
    dto=Body[PlatformOrgCreate],
    return_dto=None,
    status_code=201,
    summary="Create an organisation (platform operator) and mail its owner an invite",
)
async def create_platform_org(request: Request[Any, Any, Any], data: PlatformOrgCreate) -> Response[PlatformOrgOut]:
    platform_operator(request)
    org_id, email, link, expires_at = await _create_org(
        request,
        name=data.name,
        slug=data.slug,
        owner_email=data.owner_email,
        currency=data.default_currency,
        timezone=data.timezone,
        actor=audit.Actor(type="platform", id="operator"),
    )
    out = PlatformOrgOut(
        org_id=org_id, slug=data.slug, owner_email=email, invite_url=link, invite_expires_at=expires_at
    )
    return Response(out, status_code=201, headers={"Location": "/v1/org"})


@post(
    "/auth/signup",
    opt={"public": True},
    dto=Body[SignupBody],
    return_dto=None,
    status_code=202,
    summary="Self-service sign-up (when enabled): creates the agency and mails its owner an invite",
)
async def signup(request: Request[Any, Any, Any], data: SignupBody) -> Response[dict[str, str]]:
    """Off unless ``AGENCYFLOW_SIGNUP_ENABLED``. The link goes only to the mailbox, proving the address;
    sign-ups count against the caller's address like failed logins, so one source cannot mint orgs in bulk."""
    settings: Settings = request.app.state.settings
    if not settings.signup_enabled:
        raise NotFound("not found")
    key = "signup:" + _client_address(request)
    now = datetime.now(UTC)
    async with request.app.state.sessionmaker() as s, s.begin():
        wait = await store.locked_for(s, [key], now)
        if wait is not None:
            raise TooManyRequests(math.ceil(wait), "too many sign-ups from this address; try again later")
        await store.record_failure(
            s, key, limit=settings.login_source_fail_limit, window=timedelta(seconds=settings.login_lockout_s), now=now
        )
    await _create_org(
        request,
        name=data.name,
        slug=data.slug,
        owner_email=data.email,
        currency=data.default_currency,
        timezone=data.timezone,
        actor=audit.Actor(type="signup", id=_client_address(request)[:64]),
    )
    return Response({"detail": "check your mailbox for the link to finish signing up"}, status_code=202)


ROUTES = [create_invite, list_invites, revoke_invite, create_platform_org, signup]
