"""Engines and tenant-scoped transactions.

Row-level security keys on ``app.org_id``, set with ``set_config(..., true)`` (transaction-local), so a
pooled connection never carries one tenant's id into another tenant's request.
"""

from __future__ import annotations

import errno
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asyncpg.exceptions import ConnectionDoesNotExistError, InterfaceError, InternalClientError
from sqlalchemy import event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.settings import to_asyncpg_url

SET_ORG = text("SELECT set_config('app.org_id', :org_id, true)")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    statement_timeout_ms: int | None = None,
    idle_in_transaction_timeout_ms: int | None = None,
) -> AsyncEngine:
    """``statement_timeout_ms`` / ``idle_in_transaction_timeout_ms`` (None: the server's default) bound how
    long one statement may run and how long a transaction may sit idle on this engine's connections, so a
    request abandoned halfway cannot hold its locks and its connection for ever; the API sets both
    (``core.settings``). Connecting gives up after 5 s, so an unreachable server answers 503, not a hang."""
    server_settings = {"application_name": "agencyflow"}
    if statement_timeout_ms is not None:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    if idle_in_transaction_timeout_ms is not None:
        server_settings["idle_in_transaction_session_timeout"] = str(idle_in_transaction_timeout_ms)
    engine = create_async_engine(
        to_asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        # Errors name the statement, never its values: parameters carry API-key hashes and sealed secrets,
        # and SQLAlchemy would otherwise print them into every logged traceback (core.logging redacts the rest).
        hide_parameters=True,
        connect_args={"server_settings": server_settings, "timeout": _CONNECT_TIMEOUT_S},
    )
    event.listen(engine.sync_engine, "handle_error", _discard_broken_connection)
    return engine


def _discard_broken_connection(context: ExceptionContext) -> None:
    """A connection whose server died or whose session PostgreSQL ended is thrown away, not pooled again:
    SQLAlchemy recognises a closed socket by itself, not asyncpg's protocol left mid-operation (nor the
    FATAL of an idle-in-transaction timeout), which would fail the next request to draw it."""
    if database_unavailable(context.original_exception):
        context.is_disconnect = True


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
        except BaseException as exc:
            # Closed, still inside the transaction because the rollback itself failed (a cancelled request), or
            # broken on the client side (a server killed mid-statement leaves asyncpg's protocol "another
            # operation is in progress" on a connection that is not even marked closed).
            if conn.is_closed() or conn.is_in_transaction() or _client_side_break(exc):
                await sa_conn.invalidate()
            raise


def _client_side_break(exc: BaseException) -> bool:
    return isinstance(exc, (InterfaceError, InternalClientError, OSError)) or database_unavailable(exc)


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


_CONNECT_TIMEOUT_S = 5.0
# Connection exceptions (class 08), the server shutting down or crashed (57P01/57P02), starting up or in
# recovery ("not yet accepting connections", 57P03), out of connection slots (53300); and the two limits
# make_engine sets: a statement cancelled by statement_timeout (57014) and a session ended by
# idle_in_transaction_session_timeout (25P03). Each rolled everything back; a retry later may well succeed.
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014", "25P03"})
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.EHOSTUNREACH, errno.ENETUNREACH}
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means PostgreSQL cannot be reached right now (down, restarting, recovering, out of
    connections, or the connection died under us) rather than that the request or the code is wrong: the
    API answers 503 with Retry-After for these, and the pool reconnects once the server is back."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, (ConnectionError, ConnectionDoesNotExistError, socket.gaierror, TimeoutError)):
            return True
        if isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS:
            return True
        if isinstance(error, InterfaceError) and "connection is closed" in str(error):
            return True
        if isinstance(error, InternalClientError):  # a connection left mid-operation when its server died
            return True
        orig = getattr(error, "orig", None)
        pending += [error.__cause__, error.__context__, orig if isinstance(orig, BaseException) else None]
    return False


def sqlstate(exc: BaseException) -> str | None:
    state: str | None = getattr(database_error(exc), "sqlstate", None)
    return state


_RAW_SET_ORG = "SELECT set_config('app.org_id', $1, true)"
_RAW_SET_ORG_AND_LOCK = "SELECT set_config('app.org_id', $1, true), pg_advisory_xact_lock_shared($2, hashtext($1))"
