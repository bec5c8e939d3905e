"""Reading the audit log (finance and admins); reading it is itself a financial read, so it is audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import get
from litestar.params import FromQuery
from sqlalchemy import select

from api.context import Ctx
from api.pagination import Cursor, Limit, Page, page_of, paginate
from persistence.models import AuditEntry


class AuditEntryOut(msgspec.Struct):
    id: uuid.UUID
    at: datetime
    actor_type: str
    actor_id: str
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    action: str
    entity_type: str
    entity_id: str | None
    request_id: str | None
    before_digest: str | None
    after_digest: str | None
    detail: dict[str, Any]


@get("/audit-log", opt={"action": "audit.read"}, summary="Who did what, when")
async def list_audit(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    entity_type: FromQuery[str | None] = None,
    entity_id: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
) -> Page[AuditEntryOut]:
    query = select(AuditEntry)
    if entity_type:
        query = query.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    rows = (await ctx.session.execute(paginate(query, AuditEntry.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    await ctx.audit("audit.read", "audit_log", detail={"count": len(items)})
    return Page(
        items=[msgspec.convert(row, AuditEntryOut, from_attributes=True) for row in items],
        next_cursor=next_cursor,
    )


ROUTES = [list_audit]
