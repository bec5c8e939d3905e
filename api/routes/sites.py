"""Sites: a client's locations or business units; usage, minimums and caps are scoped to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Client, Site

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$", examples=["berlin-hq"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    timezone: str | None = None

    __field_checks__: ClassVar = {"timezone": validators.timezone}


class SitePatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType | None = msgspec.UNSET

    __field_checks__: ClassVar = {"timezone": validators.timezone}


class SiteOut(msgspec.Struct):
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    name: str
    timezone: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@get("/clients/{client_id:uuid}/sites", opt={"action": "sites.read"}, summary="List a client's sites")
async def list_sites(
    ctx: Ctx,
    client_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SiteOut]:
    await get_row(ctx, Client, client_id, "client")
    return await list_page(ctx, select(Site).where(Site.client_id == client_id), Site, SiteOut, limit, cursor)


@post(
    "/clients/{client_id:uuid}/sites",
    opt={"action": "sites.write"},
    dto=Body[SiteCreate],
    return_dto=None,
    summary="Add a site to a client",
    status_code=201,
)
async def create_site(ctx: Ctx, client_id: uuid.UUID, data: SiteCreate) -> Response[SiteOut]:
    await get_row(ctx, Client, client_id, "client")

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Site(org_id=ctx.org_id, client_id=client_id, code=data.code, name=data.name, timezone=data.timezone)
        return await create_row(ctx, row, SiteOut, "site", location="/v1/sites")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/sites/{site_id:uuid}", opt={"action": "sites.read"}, summary="Get a site")
async def get_site(ctx: Ctx, site_id: uuid.UUID) -> Response[SiteOut]:
    return read_response(ctx, await get_row(ctx, Site, site_id, "site"), SiteOut)  # type: ignore[return-value]


@patch(
    "/sites/{site_id:uuid}",
    opt={"action": "sites.write"},
    dto=Body[SitePatch],
    return_dto=None,
    summary="Update a site (If-Match supported)",
)
async def update_site(ctx: Ctx, site_id: uuid.UUID, data: SitePatch) -> Response[SiteOut]:
    row = await get_row(ctx, Site, site_id, "site", for_update=True)
    return await patch_row(ctx, row, data, SiteOut, "site")  # type: ignore[return-value]


@delete("/sites/{site_id:uuid}", opt={"action": "sites.write"}, summary="Delete a site", status_code=204)
async def delete_site(ctx: Ctx, site_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, Site, site_id, "site", for_update=True)
    return await delete_row(ctx, row, SiteOut, "site")  # type: ignore[return-value]


ROUTES = [list_sites, create_site, get_site, update_site, delete_site]
