"""API keys: issued once (the token is shown only in the create response), listed by prefix, revoked.

A key issued by a person is theirs (``user_id``): it acts as them, with at most their current role
(``api.auth``), and dies with their membership. ``"service": true`` issues a key that acts for nobody
(``user_id`` null), for integrations that must outlive whoever set them up.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Response, delete, get, post
from sqlalchemy import select

from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError, Forbidden
from api.resources import get_row, list_page, read_response, state_of, to_out
from core.permissions import DEFAULT_SCOPES, Role, Scope
from persistence.api_key_store import issue_key
from persistence.models import ApiKey, Client

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Roles ordered by what they may grant: nobody issues a key stronger than their own.
_RANK = {Role.OWNER: 3, Role.ADMIN: 2}


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    role: Role
    scopes: list[Scope] = msgspec.field(default_factory=lambda: list(DEFAULT_SCOPES))
    client_id: uuid.UUID | None = None
    service: bool = False
    """A key that acts for nobody instead of for the person issuing it."""

    def problems(self) -> list[FieldError]:
        errors = []
        if not self.scopes:
            errors.append(FieldError(pointer="/scopes", detail="at least one scope is required"))
        if self.role is Role.CLIENT_VIEWER and self.client_id is None:
            errors.append(FieldError(pointer="/client_id", detail="a client_viewer key must name its client"))
        if self.role is not Role.CLIENT_VIEWER and self.client_id is not None:
            errors.append(FieldError(pointer="/client_id", detail="only client_viewer keys are bound to a client"))
        return errors


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    scopes: list[str]
    client_id: uuid.UUID | None
    user_id: uuid.UUID | None
    """The person the key acts for; null for a service key."""
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    version: int


class ApiKeyCreated(msgspec.Struct):
    key: ApiKeyOut
    token: str


@get("/api-keys", opt={"action": "api_keys.read"}, summary="List API keys (never their secrets)")
async def list_keys(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[ApiKeyOut]:
    return await list_page(ctx, select(ApiKey), ApiKey, ApiKeyOut, limit, cursor)


@post(
    "/api-keys",
    opt={"action": "api_keys.write"},
    dto=Body[ApiKeyCreate],
    return_dto=None,
    summary="Issue an API key; the token is returned only here",
    status_code=201,
)
async def create_key(ctx: Ctx, data: ApiKeyCreate) -> Response[ApiKeyCreated]:
    if _RANK.get(data.role, 0) > _RANK.get(ctx.principal.role, 0):
        raise Forbidden(f"a {ctx.principal.role.value} key cannot issue a {data.role.value} key")
    if data.client_id is not None:
        await get_row(ctx, Client, data.client_id, "client")

    async def create() -> tuple[int, object, dict[str, str]]:
        row, token = await issue_key(
            ctx.session,
            org_id=ctx.org_id,
            name=data.name,
            role=data.role.value,
            scopes=sorted({scope.value for scope in data.scopes}),
            client_id=data.client_id,
            user_id=None if data.service else ctx.principal.user_id,
        )
        await ctx.audit("api_key.create", "api_key", row.id, after=state_of(row, ApiKeyOut))
        return (
            201,
            ApiKeyCreated(key=to_out(row, ApiKeyOut), token=token),
            {"Location": f"/v1/api-keys/{row.id}"},
        )

    return await idempotent_create(ctx, create, carries_secret=True)  # type: ignore[return-value]


@get("/api-keys/{key_id:uuid}", opt={"action": "api_keys.read"}, summary="Get an API key")
async def get_key(ctx: Ctx, key_id: uuid.UUID) -> Response[ApiKeyOut]:
    return read_response(ctx, await get_row(ctx, ApiKey, key_id, "api key"), ApiKeyOut)  # type: ignore[return-value]


@delete("/api-keys/{key_id:uuid}", opt={"action": "api_keys.write"}, summary="Revoke an API key", status_code=204)
async def revoke_key(ctx: Ctx, key_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, ApiKey, key_id, "api key", for_update=True)
    check_if_match(ctx.request, row.version)
    if row.revoked_at is None:
        before = state_of(row, ApiKeyOut)
        row.revoked_at = datetime.now(UTC)
        await ctx.session.flush()
        await ctx.audit("api_key.revoke", "api_key", row.id, before=before, after=state_of(row, ApiKeyOut))
    return Response(b"", status_code=204)  # type: ignore[return-value]


ROUTES = [list_keys, create_key, get_key, revoke_key]
