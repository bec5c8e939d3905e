"""A real API server for black-box clients (the fuzzer, a generated client): uvicorn on a free port, in a
thread with its own event loop, on the session's migrated database and Temporal dev server."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from core.permissions import Role
from core.runtime.postgres import free_port
from core.settings import load_settings
from tests.conftest import OrgHandle, make_org

# Limits that exist to stop abuse would only make a black-box client wait; they have their own tests.
_UNLIMITED: dict[str, Any] = {
    "api_rate_per_s": 1e9,
    "api_burst": 10**9,
    "events_rate_per_s": 1e9,
    "events_burst": 10**9,
    "auth_fail_rate_per_s": 1e9,
    "auth_fail_burst": 10**9,
    "login_fail_limit": 10**9,
    "login_source_fail_limit": 10**9,
}


@dataclass
class LiveApi:
    base_url: str
    org: OrgHandle

    def token(self, role: Role = Role.OWNER) -> str:
        return self.org.tokens[role]


@pytest.fixture(scope="session")
def _live_server(app_database_url: str, temporal_address: str) -> Iterator[str]:
    from api.app import create_app

    base = load_settings()
    overrides = {name: value for name, value in _UNLIMITED.items() if hasattr(base, name)}
    settings = msgspec.structs.replace(base, temporal_address=temporal_address, **overrides)
    app = create_app(settings, database_url=app_database_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
async def live_api(_live_server: str, sessionmaker) -> AsyncIterator[LiveApi]:  # type: ignore[no-untyped-def]
    """The server, and a fresh organisation (with one key per role) to use it as."""
    org = await make_org(sessionmaker, f"Live {uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(base_url=_live_server) as http:
        assert (await http.get("/healthz")).status_code == 200
    yield LiveApi(base_url=_live_server, org=org)
