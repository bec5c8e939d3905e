"""Memberships: which users belong to the org, with which role, and optionally scoped to clients/projects.

Escalation is closed: only an owner grants or removes the owner role, and the last owner cannot leave.
Removing a member revokes their sessions and personal API keys in the same transaction, so both fail on
the very next request; a role or scope change ends their sessions too (they sign in again under the new
role). A scope (``scope_client_ids``, ``scope_project_ids``) narrows what a member reaches (``api.member_scope``);
owners, admins and client viewers take none.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import func, select, text

from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for
from api.idempotency import idempotent_create, json_response
from api.member_scope import ScopeIds, check_scope_ids, scope_problems
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, Forbidden, ValidationFailed, not_found
from api.resources import get_row
from core.ids import new_id
from core.permissions import Role
from persistence import identity_store
from persistence.models import Client, Membership, User

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class MembershipCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    display_name: Name
    role: Role
    client_id: uuid.UUID | None = None
    scope_client_ids: ScopeIds = msgspec.field(default_factory=list)
    scope_project_ids: ScopeIds = msgspec.field(default_factory=list)

    def problems(self) -> list[FieldError]:
        return _client_rule(self.role, self.client_id) + scope_problems(
            self.role, self.scope_client_ids, self.scope_project_ids
        )


class MembershipPatch(msgspec.Struct, forbid_unknown_fields=True):
    role: Role | msgspec.UnsetType = msgspec.UNSET
    client_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    scope_client_ids: ScopeIds | msgspec.UnsetType = msgspec.UNSET
    scope_project_ids: ScopeIds | msgspec.UnsetType = msgspec.UNSET


class MembershipOut(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    client_id: uuid.UUID | None
    scope_client_ids: list[uuid.UUID]
    scope_project_ids: list[uuid.UUID]
    """Both empty: the role's whole reach."""
    version: int
    created_at: datetime


def _client_rule(role: Role, client_id: uuid.UUID | None) -> list[FieldError]:
    if role is Role.CLIENT_VIEWER and client_id is None:
        return [FieldError(pointer="/client_id", detail="a client_viewer must be bound to a client")]
    if role is not Role.CLIENT_VIEWER and client_id is not None:
        return [FieldError(pointer="/client_id", detail="only a client_viewer is bound to a client")]
    return []


def _out(membership: Membership, user: Any) -> MembershipOut:
    return MembershipOut(
        id=membership.id,
        user_id=membership.user_id,
        email=user.email,
        display_name=user.display_name,
        role=membership.role,
        client_id=membership.client_id,
        scope_client_ids=list(membership.scope_client_ids),
        scope_project_ids=list(membership.scope_project_ids),
        version=membership.version,
        created_at=membership.created_at,
    )


def _state(out: MembershipOut) -> dict[str, Any]:
    return {
        "user_id": str(out.user_id),
        "role": out.role,
        "client_id": str(out.client_id or ""),
        "scope_client_ids": [str(i) for i in out.scope_client_ids],
        "scope_project_ids": [str(i) for i in out.scope_project_ids],
    }


def _guard_owner_change(ctx: Ctx, *roles: str) -> None:
    if Role.OWNER.value in roles and ctx.principal.role is not Role.OWNER:
        raise Forbidden("only an owner may grant or remove the owner role")


async def _ensure_other_owner(ctx: Ctx, membership: Membership) -> None:
    if membership.role != Role.OWNER.value:
        return
    owners = (await ctx.session.execute(select(func.count()).where(Membership.role == Role.OWNER.value))).scalar_one()
    if owners <= 1:
        raise Conflict("the organisation must keep at least one owner")


async def _load(ctx: Ctx, membership_id: uuid.UUID) -> tuple[Membership, User]:
    row = (
        await ctx.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id == membership_id)
            .with_for_update(of=Membership)
        )
    ).first()
    if row is None:
        raise not_found("membership", membership_id)
    return row[0], row[1]


@get("/memberships", opt={"action": "memberships.read"}, summary="List members")
async def list_memberships(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[MembershipOut]:
    query = select(Membership, User).join(User, User.id == Membership.user_id)
    rows = (await ctx.session.execute(paginate(query, Membership.id, limit, cursor))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row[0].id)
    return Page(items=[_out(m, u) for m, u in items], next_cursor=next_cursor)


@post(
    "/memberships",
    opt={"action": "memberships.write"},
    dto=Body[MembershipCreate],
    return_dto=None,
    summary="Add a member",
    status_code=201,
)
async def create_membership(ctx: Ctx, data: MembershipCreate) -> Response[MembershipOut]:
    _guard_owner_change(ctx, data.role.value)
    if data.client_id is not None:
        await get_row(ctx, Client, data.client_id, "client")
    await check_scope_ids(ctx, data.scope_client_ids, data.scope_project_ids)

    async def create() -> tuple[int, object, dict[str, str]]:
        user_id = (
            await ctx.session.execute(
                text("SELECT af_ensure_user(:id, :email, :name)"),
                {"id": new_id(), "email": data.email, "name": data.display_name},
            )
        ).scalar_one()
        existing = (
            await ctx.session.execute(select(Membership.id).where(Membership.user_id == user_id))
        ).scalar_one_or_none()
        if existing is not None:
            raise Conflict(f"{data.email} is already a member (membership {existing})")
        membership = Membership(
            org_id=ctx.org_id,
            user_id=user_id,
            role=data.role.value,
            client_id=data.client_id,
            scope_client_ids=data.scope_client_ids,
            scope_project_ids=data.scope_project_ids,
        )
        ctx.session.add(membership)
        await ctx.session.flush()
        membership, user = await _load(ctx, membership.id)
        out = _out(membership, user)
        await ctx.audit("membership.create", "membership", membership.id, after=_state(out))
        return (
            201,
            out,
            {"ETag": etag_for(membership.version), "Location": f"/v1/memberships/{membership.id}"},
        )

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/memberships/{membership_id:uuid}", opt={"action": "memberships.read"}, summary="Get a member")
async def get_membership(ctx: Ctx, membership_id: uuid.UUID) -> Response[MembershipOut]:
    membership, user = await _load(ctx, membership_id)
    return json_response(200, _out(membership, user), {"ETag": etag_for(membership.version)})  # type: ignore[return-value]


@patch(
    "/memberships/{membership_id:uuid}",
    opt={"action": "memberships.write"},
    dto=Body[MembershipPatch],
    return_dto=None,
    summary="Change a member's role or scope",
)
async def update_membership(ctx: Ctx, membership_id: uuid.UUID, data: MembershipPatch) -> Response[MembershipOut]:
    membership, user = await _load(ctx, membership_id)
    check_if_match(ctx.request, membership.version)
    before = _state(_out(membership, user))
    new_role = membership.role if data.role is msgspec.UNSET else data.role.value
    new_client = membership.client_id if data.client_id is msgspec.UNSET else data.client_id
    new_clients = list(membership.scope_client_ids if data.scope_client_ids is msgspec.UNSET else data.scope_client_ids)
    new_projects = list(
        membership.scope_project_ids if data.scope_project_ids is msgspec.UNSET else data.scope_project_ids
    )
    errors = _client_rule(Role(new_role), new_client) + scope_problems(Role(new_role), new_clients, new_projects)
    if errors:
        raise ValidationFailed("role, client and scope do not fit together", errors=errors)
    if new_role != membership.role:
        _guard_owner_change(ctx, new_role, membership.role)
        await _ensure_other_owner(ctx, membership)
    if new_client is not None and new_client != membership.client_id:
        await get_row(ctx, Client, new_client, "client")
    rescoped = set(new_clients) != set(membership.scope_client_ids) or set(new_projects) != set(
        membership.scope_project_ids
    )
    if rescoped:
        await check_scope_ids(ctx, new_clients, new_projects)
    if new_role != membership.role or rescoped:
        await identity_store.revoke_member_sessions(ctx.session, membership.user_id, datetime.now(UTC))
    membership.role, membership.client_id = new_role, new_client
    membership.scope_client_ids, membership.scope_project_ids = new_clients, new_projects
    await ctx.session.flush()
    out = _out(membership, user)
    await ctx.audit("membership.update", "membership", membership.id, before=before, after=_state(out))
    return json_response(200, out, {"ETag": etag_for(membership.version)})  # type: ignore[return-value]


@delete(
    "/memberships/{membership_id:uuid}",
    opt={"action": "memberships.write"},
    summary="Remove a member",
    status_code=204,
)
async def delete_membership(ctx: Ctx, membership_id: uuid.UUID) -> Response[None]:
    membership, user = await _load(ctx, membership_id)
    check_if_match(ctx.request, membership.version)
    _guard_owner_change(ctx, membership.role)
    await _ensure_other_owner(ctx, membership)
    before = _state(_out(membership, user))
    await ctx.session.delete(membership)
    await ctx.session.flush()
    sessions, keys = await identity_store.revoke_member_access(ctx.session, membership.user_id, datetime.now(UTC))
    await ctx.audit(
        "membership.delete", "membership", membership_id, before=before, detail={"sessions": sessions, "keys": keys}
    )
    return Response(b"", status_code=204)  # type: ignore[return-value]


ROUTES = [list_memberships, create_membership, get_membership, update_membership, delete_membership]
