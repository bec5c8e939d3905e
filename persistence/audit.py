"""Audit trail writes, always inside the caller's transaction so the record and the change commit together.

Only digests of the before/after states are stored: enough to prove what a row looked like at a point in
time (hash the row you have and compare) without copying financial data into a second table.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, NotRequired, TypedDict, Unpack

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from persistence.models.audit import AuditEntry

_canonical = msgspec.json.Encoder(order="sorted")
_detail = msgspec.json.Encoder()


class Actor(msgspec.Struct, frozen=True):
    """Who acted: an API key (with the user it belongs to, if any), a workflow, or the CLI."""

    type: str
    id: str
    user_id: uuid.UUID | None = None
    role: str | None = None


SYSTEM = Actor(type="system", id="agencyflow")


def digest(state: Any) -> str | None:
    if state is None:
        return None
    return hashlib.sha256(_canonical.encode(state)).hexdigest()


class AuditFields(TypedDict):
    """What a caller says of one audited action; ``record`` and ``record_raw`` take the same keywords."""

    org_id: uuid.UUID
    actor: Actor
    action: str
    entity_type: str
    entity_id: NotRequired[object | None]
    before: NotRequired[Any]
    after: NotRequired[Any]
    request_id: NotRequired[str | None]
    detail: NotRequired[dict[str, Any] | None]


_COLUMNS = (
    "id",
    "org_id",
    "actor_type",
    "actor_id",
    "actor_user_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "request_id",
    "before_digest",
    "after_digest",
    "detail",
)


def _row(fields: AuditFields) -> list[Any]:
    """The row's values in ``_COLUMNS`` order."""
    actor, entity_id = fields["actor"], fields.get("entity_id")
    return [
        new_id(),
        fields["org_id"],
        actor.type,
        actor.id,
        actor.user_id,
        actor.role,
        fields["action"],
        fields["entity_type"],
        None if entity_id is None else str(entity_id),
        fields.get("request_id"),
        digest(fields.get("before")),
        digest(fields.get("after")),
        fields.get("detail") or {},
    ]


async def record(session: AsyncSession, **fields: Unpack[AuditFields]) -> None:
    await session.execute(insert(AuditEntry).values(dict(zip(_COLUMNS, _row(fields), strict=True))))


_RAW_INSERT = (
    f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_COLUMNS)))}, ${len(_COLUMNS)}::text::jsonb)"
)


async def record_raw(conn: Any, **fields: Unpack[AuditFields]) -> None:
    """``record`` on a raw asyncpg connection (``persistence.db.raw_tenant_transaction``): the same row."""
    row = _row(fields)
    row[-1] = _detail.encode(row[-1]).decode()  # detail, the last column, goes as JSON text
    await conn.execute(_RAW_INSERT, *row)
