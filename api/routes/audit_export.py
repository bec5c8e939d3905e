"""The audit log as CSV, for owners, admins and finance to hand to an auditor or open in a spreadsheet.

Each row names the person where there is one (their email, looked up through the membership; a member
since removed shows only their id). Cells that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return) are prefixed with ``'`` (OWASP's CSV injection advice): entity
ids and request ids are ours, but ``detail`` can echo text someone typed. The export is itself audited.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import msgspec
from litestar import Response, get
from litestar.params import FromQuery
from sqlalchemy import select

from api.context import Ctx
from persistence.models import AuditEntry, User

MAX_ROWS = 100_000
COLUMNS = (
    "at",
    "actor_type",
    "actor_id",
    "actor_user_id",
    "actor_email",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "request_id",
    "detail",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


@get(
    "/audit-log/export",
    opt={"action": "audit.read"},
    media_type="text/csv",
    summary="The audit log as CSV (oldest first, at most 100,000 rows)",
)
async def export_audit(
    ctx: Ctx,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    action: FromQuery[str | None] = None,
    entity_type: FromQuery[str | None] = None,
) -> Response[bytes]:
    query = select(AuditEntry, User.email).outerjoin(User, User.id == AuditEntry.actor_user_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if action:
        query = query.where(AuditEntry.action == action)
    if entity_type:
        query = query.where(AuditEntry.entity_type == entity_type)
    rows = (await ctx.session.execute(query.order_by(AuditEntry.at, AuditEntry.id).limit(MAX_ROWS))).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry, email in rows:
        writer.writerow(
            [
                _cell(entry.at),
                _cell(entry.actor_type),
                _cell(entry.actor_id),
                _cell(entry.actor_user_id),
                _cell(email),
                _cell(entry.actor_role),
                _cell(entry.action),
                _cell(entry.entity_type),
                _cell(entry.entity_id),
                _cell(entry.request_id),
                _cell(msgspec.json.encode(entry.detail).decode() if entry.detail else ""),
            ]
        )
    await ctx.audit("audit.export", "audit_log", detail={"rows": len(rows)})
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )


ROUTES = [export_audit]
