"""Shared fixtures: real PostgreSQL and real Temporal, started by the test session itself.

PostgreSQL: ``AGENCYFLOW_TEST_DATABASE_URL`` (an admin URL; the session creates and drops its own
database there), else a private embedded server in a temporary directory. Temporal: the dev server binary
installed in the venv, through ``WorkflowEnvironment.start_local``. Nothing is downloaded.
Every fixture is lazy: pure-logic tests never start either service.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.ids import new_id
from core.permissions import Role, Scope
from core.runtime.postgres import EmbeddedPostgres, free_port
from core.runtime.temporal import venv_binary
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import app_url_for, load_settings, with_database
from persistence import migrate
from persistence.api_key_store import issue_key
from persistence.bootstrap import drop_database, ensure_database
from persistence.db import make_engine, make_sessionmaker, tenant_session
from persistence.models import Org
from tests import orphans
from workflows.converter import DATA_CONVERTER


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin URL of a PostgreSQL server (the ``postgres`` maintenance database)."""
    configured = os.environ.get("AGENCYFLOW_TEST_DATABASE_URL")
    if configured:
        yield with_database(configured, "postgres")
        return
    orphans.sweep()
    root = orphans.new_postgres_root()
    server = EmbeddedPostgres(root / "pg", free_port(), tuned_for_tests=True)
    server.start()
    try:
        yield server.url
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


async def create_migrated_database(server_url: str, name: str) -> str:
    admin_url = with_database(server_url, name)
    await ensure_database(admin_url, name)
    await asyncio.to_thread(migrate.upgrade, admin_url)
    return admin_url


@pytest.fixture(scope="session")
async def database(pg_server_url: str) -> AsyncIterator[str]:
    """Admin URL of a freshly migrated database private to this test session."""
    name = f"af_test_{uuid.uuid4().hex[:10]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    try:
        yield admin_url
    finally:
        await drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def app_database_url(database: str) -> str:
    return app_url_for(database)


@pytest.fixture(scope="session")
async def app_engine(app_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(app_database_url, pool_size=5, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def admin_engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database, pool_size=2, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(app_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(app_engine)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    orphans.sweep()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=WAL",
            "--sqlite-pragma",
            "synchronous=NORMAL",
            *[arg for name, kind in SEARCH_ATTRIBUTES.items() for arg in ("--search-attribute", f"{name}={kind}")],
        ],
        dev_server_log_level="error",
        data_converter=DATA_CONVERTER,
    )
    servers = orphans.register_children(venv_binary("temporal"))
    try:
        yield env
    finally:
        await env.shutdown()
        orphans.forget_children(servers)


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="session")
async def api_app(app_database_url: str, temporal_address: str):  # type: ignore[no-untyped-def]
    from api.app import create_app

    settings = msgspec.structs.replace(load_settings(), temporal_address=temporal_address)
    return create_app(settings, database_url=app_database_url)


@asynccontextmanager
async def asgi_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in this event loop (Litestar's AsyncTestClient blocks the loop
    through a portal, which would starve a Temporal worker running in the same loop)."""
    for hook in app.on_startup:
        await hook(app)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        for hook in app.on_shutdown:
            await hook(app)


@pytest.fixture(scope="session")
async def client(api_app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with asgi_client(api_app) as http:
        yield http


@dataclass
class OrgHandle:
    """A tenant with one API key per role; ``headers(role)`` authenticates as that role."""

    id: uuid.UUID
    slug: str
    tokens: dict[Role, str] = field(default_factory=dict)
    client_id: uuid.UUID | None = None
    user_ids: dict[Role, uuid.UUID] = field(default_factory=dict)
    """The person behind each role's key: every role key is a personal key of a member with that role."""
    service_token: str = ""
    """A service key (owner role, all scopes, acting for nobody): it may do anything but decide on money."""

    def headers(self, role: Role = Role.OWNER, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


async def make_org(sessionmaker: async_sessionmaker[AsyncSession], name: str = "Test Org") -> OrgHandle:
    """A new org with a client (for the client_viewer key), one member per role with a personal key (all
    scopes), and one service key. Personal keys, so suites that approve money act as a person, as the product
    requires (service keys cannot approve money)."""
    from sqlalchemy import text

    from persistence.models import Client, Membership

    org_id = new_id()
    handle = OrgHandle(id=org_id, slug=f"org-{org_id.hex[-10:]}")
    async with tenant_session(sessionmaker, org_id) as session:
        session.add(Org(id=org_id, name=name, slug=handle.slug, default_currency="USD", timezone="UTC"))
        await session.flush()
        viewer_client = Client(
            org_id=org_id, name="Viewer Client", external_key="viewer-client", currency="USD", timezone="UTC"
        )
        session.add(viewer_client)
        await session.flush()
        handle.client_id = viewer_client.id
        all_scopes = [scope.value for scope in Scope]
        for role in Role:
            client_id = viewer_client.id if role is Role.CLIENT_VIEWER else None
            email = f"{role.value.replace('_', '-')}@{handle.slug}.test.invalid"
            user_id = (
                await session.execute(
                    text("SELECT af_ensure_user(:id, :email, :name)"),
                    {"id": new_id(), "email": email, "name": f"{role.value} of {name}"},
                )
            ).scalar_one()
            session.add(Membership(org_id=org_id, user_id=user_id, role=role.value, client_id=client_id))
            await session.flush()
            _, token = await issue_key(
                session,
                org_id=org_id,
                name=f"{role.value} key",
                role=role.value,
                scopes=all_scopes,
                client_id=client_id,
                user_id=user_id,
            )
            handle.tokens[role] = token
            handle.user_ids[role] = user_id
        _, handle.service_token = await issue_key(
            session, org_id=org_id, name="service key", role=Role.OWNER.value, scopes=all_scopes
        )
    return handle


@pytest.fixture
async def org(sessionmaker: async_sessionmaker[AsyncSession]) -> OrgHandle:
    return await make_org(sessionmaker, "Org A")


@pytest.fixture
async def other_org(sessionmaker: async_sessionmaker[AsyncSession]) -> OrgHandle:
    return await make_org(sessionmaker, "Org B")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that touch no database as ``pure`` so the PostgreSQL 15 run can skip them."""
    for item in items:
        if "pg_server_url" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pure)
