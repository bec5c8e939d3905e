"""The caller's own organisation."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Response, get
from sqlalchemy import select

from api.context import Ctx
from api.resources import read_response
from persistence.models import Org


class OrgOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    slug: str
    default_currency: str
    timezone: str
    version: int
    created_at: datetime


@get("/org", opt={"action": "org.read"}, summary="The organisation this API key belongs to")
async def get_org(ctx: Ctx) -> Response[OrgOut]:
    row = (await ctx.session.execute(select(Org))).scalar_one()
    return read_response(ctx, row, OrgOut)  # type: ignore[return-value]


ROUTES = [get_org]
