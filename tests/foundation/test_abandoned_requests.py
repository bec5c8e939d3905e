"""Abandoned requests give their transactions back; a transaction left idle is ended by PostgreSQL.

The API runs under uvicorn on a real socket, as served. A probe route (registered by the test, on the
real ``ctx`` dependency) opens the request's transaction and then waits, as a handler waiting on a slow
workflow or lock does. Before the fix, 48 clients that gave up left 39 ``idle in transaction`` sessions
holding the pool, and another organisation's request waited 7 s for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar, get
from litestar.di import Provide
from sqlalchemy import text

from api.app import create_app
from api.context import Ctx, provide_ctx
from core.runtime.postgres import free_port
from core.settings import load_settings
from tests.conftest import make_org

ABANDONED = 50
IDLE = text(
    "SELECT count(*) FILTER (WHERE true) AS idle, "
    "       count(*) FILTER (WHERE now() - state_change > make_interval(secs => :older_than)) AS old "
    "FROM pg_stat_activity WHERE datname = current_database() AND usename = 'agencyflow_app' "
    "AND state = 'idle in transaction'"
)


@get("/v1/probe/waits", opt={"action": "clients.read"}, dependencies={"ctx": Provide(provide_ctx)})
async def waits(ctx: Ctx, seconds: float = 3600) -> dict[str, str]:
    """Opens the transaction, then waits with it open, then uses it again."""
    await ctx.session.execute(text("SELECT 1"))
    await asyncio.sleep(seconds)
    await ctx.session.execute(text("SELECT 1"))
    return {"status": "done"}


Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(app_database_url, temporal_address) -> AsyncIterator[Serve]:
    """``await serve(**settings)`` starts the API under uvicorn with those settings and returns its URL."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**overrides: object) -> str:
        settings = msgspec.structs.replace(load_settings(), temporal_address=temporal_address, **overrides)
        app: Litestar = create_app(settings, database_url=app_database_url)
        app.register(waits)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        task = asyncio.create_task(server.serve())

        async def listening() -> bool:
            return bool(server.started)

        await wait_for(listening, 10)
        servers.append((server, task))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def idle_transactions(admin_engine, older_than_s: float) -> tuple[int, int]:
    async with admin_engine.connect() as conn:
        row = (await conn.execute(IDLE, {"older_than": older_than_s})).one()
    return int(row.idle), int(row.old)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float) -> float:
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_abandoned_requests_release_their_transactions_at_once(serve, sessionmaker, admin_engine) -> None:
    """The idle timeout is left at 60 s here, so only cancelling on disconnect can free them this fast."""
    base = await serve(db_idle_in_transaction_timeout_ms=60_000)
    org_a = await make_org(sessionmaker, "Abandoning org")
    org_b = await make_org(sessionmaker, "Other org")
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET /v1/probe/waits HTTP/1.1\r\nHost: {host}\r\nAuthorization: {org_a.headers()['Authorization']}\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(ABANDONED):
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        await writer.drain()
        sockets.append(writer)

    async def pool_held() -> bool:  # the pool (20 + 20 overflow) is all taken by waiting requests
        return (await idle_transactions(admin_engine, 0))[0] >= 40

    await wait_for(pool_held, 15)
    for writer in sockets:
        writer.close()

    async def released() -> bool:
        return (await idle_transactions(admin_engine, 0))[0] == 0

    took = await wait_for(released, 5)
    assert took < 2.0
    async with httpx.AsyncClient(base_url=base) as http:
        started = time.monotonic()
        response = await http.get("/v1/clients", headers=org_b.headers())
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0


async def test_a_transaction_left_idle_is_ended_and_its_request_answers_503(serve, sessionmaker, admin_engine) -> None:
    """The backstop for a client that does *not* leave: PostgreSQL ends the idle session after the configured
    timeout (here 1 s; 30 s by default), and the request answers 503 + Retry-After instead of hanging on."""
    base = await serve(db_idle_in_transaction_timeout_ms=1_000)
    org = await make_org(sessionmaker, "Slow org")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        pending = [
            asyncio.create_task(http.get("/v1/probe/waits", params={"seconds": 3}, headers=org.headers()))
            for _ in range(10)
        ]

        async def all_idle() -> bool:
            return (await idle_transactions(admin_engine, 0))[0] >= 10

        await wait_for(all_idle, 10)
        await asyncio.sleep(2.0)
        assert await idle_transactions(admin_engine, 1.5) == (0, 0)
        responses = await asyncio.gather(*pending)
    assert {r.status_code for r in responses} == {503}
    assert all(r.headers["retry-after"] == "2" for r in responses)
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
