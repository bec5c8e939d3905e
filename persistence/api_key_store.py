"""Issuing API keys, shared by the API and the CLI so both store keys the same way."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core import api_keys
from persistence.models import ApiKey


async def issue_key(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    name: str,
    role: str,
    scopes: Sequence[str],
    client_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """Return the stored row and the token; the token is never stored and cannot be shown again."""
    new = api_keys.generate(org_id)
    row = ApiKey(
        org_id=org_id,
        name=name,
        prefix=new.prefix,
        secret_hash=new.secret_hash,
        role=role,
        scopes=list(scopes),
        client_id=client_id,
        user_id=user_id,
    )
    session.add(row)
    await session.flush()
    return row, new.token
