"""Audit trail writes, always inside the caller's transaction so the record and the change commit together.

Only digests of the before/after states are stored: enough to prove what a row looked like at a point in
time (hash the row you have and compare) without copying financial data into a second table.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

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


async def record(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(AuditEntry).values(
            id=new_id(),
            org_id=org_id,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_user_id=actor.user_id,
            actor_role=actor.role,
            action=action,
            entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id),
            request_id=request_id,
            before_digest=digest(before),
            after_digest=digest(after),
            detail=detail or {},
        )
    )


_RAW_INSERT = """
INSERT INTO audit_log (id, org_id, actor_type, actor_id, actor_user_id, actor_role, action, entity_type, entity_id,
                       request_id, before_digest, after_digest, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb)
"""


async def record_raw(
    conn: Any,
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """``record`` on a raw asyncpg connection (``persistence.db.raw_tenant_transaction``), same row."""
    await conn.execute(
        _RAW_INSERT,
        new_id(),
        org_id,
        actor.type,
        actor.id,
        actor.user_id,
        actor.role,
        action,
        entity_type,
        None if entity_id is None else str(entity_id),
        request_id,
        None,
        None,
        _detail.encode(detail or {}).decode(),
    )
