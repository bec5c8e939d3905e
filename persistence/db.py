"""Engines and tenant-scoped transactions.

Row-level security keys on ``app.org_id``, set with ``set_config(..., true)`` (transaction-local), so a
pooled connection never carries one tenant's id into another tenant's request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.settings import to_asyncpg_url

SET_ORG = text("SELECT set_config('app.org_id', :org_id, true)")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    return create_async_engine(
        to_asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "agencyflow"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def set_tenant(session: AsyncSession, org_id: uuid.UUID) -> None:
    await session.execute(SET_ORG, {"org_id": str(org_id)})


@asynccontextmanager
async def tenant_session(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    """One transaction bound to one tenant; commits on success, rolls back on any exception."""
    async with sessionmaker() as session, session.begin():
        await set_tenant(session, org_id)
        yield session


@asynccontextmanager
async def raw_tenant_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID, *, shared_lock: int | None = None
) -> AsyncIterator[Any]:
    """The pooled asyncpg connection itself, in one transaction bound to one tenant, for the hot paths
    (authentication, event ingest) where the ORM's per-statement work costs more than the statement.

    ``shared_lock`` = a namespace also takes the org's ``pg_advisory_xact_lock_shared(namespace,
    hashtext(org id))`` in the same round trip. On an exception the transaction rolls back; a connection
    that broke is discarded from the pool rather than handed to the next request.
    """
    engine: AsyncEngine = sessionmaker.kw["bind"]
    async with engine.connect() as sa_conn:
        conn: Any = (await sa_conn.get_raw_connection()).driver_connection
        try:
            async with conn.transaction():
                if shared_lock is None:
                    await conn.execute(_RAW_SET_ORG, str(org_id))
                else:
                    await conn.execute(_RAW_SET_ORG_AND_LOCK, str(org_id), shared_lock)
                yield conn
        except BaseException:
            # Closed, or still inside the transaction because the rollback itself failed (a cancelled request).
            if conn.is_closed() or conn.is_in_transaction():
                await sa_conn.invalidate()
            raise


def database_error(exc: BaseException) -> Any:
    """The driver's own error behind ``exc`` (asyncpg's, carrying ``sqlstate`` and ``constraint_name``),
    whether it came straight from a raw connection or wrapped by SQLAlchemy; None for anything else."""
    if getattr(exc, "sqlstate", None) is not None:
        return exc
    orig = getattr(exc, "orig", None)
    for candidate in (getattr(orig, "__cause__", None), orig):
        if getattr(candidate, "sqlstate", None) is not None:
            return candidate
    return None


def sqlstate(exc: BaseException) -> str | None:
    state: str | None = getattr(database_error(exc), "sqlstate", None)
    return state


_RAW_SET_ORG = "SELECT set_config('app.org_id', $1, true)"
_RAW_SET_ORG_AND_LOCK = "SELECT set_config('app.org_id', $1, true), pg_advisory_xact_lock_shared($2, hashtext($1))"
