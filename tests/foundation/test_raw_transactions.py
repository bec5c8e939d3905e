"""``raw_tenant_transaction``: the hot paths' driver-level transaction keeps every promise of ``tenant_session``
(one tenant, commit or roll back as a whole) and never hands a dirty or broken connection to the next user."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core.ids import new_id
from persistence import audit
from persistence.db import make_engine, make_sessionmaker, raw_tenant_transaction, tenant_session
from persistence.ingest import LOCK_NAMESPACE

_ADD_CLIENT = (
    "INSERT INTO clients (id, org_id, name, external_key, currency, timezone) VALUES ($1, $2, $3, $3, 'USD', 'UTC')"
)


@pytest.fixture
async def one_connection(app_database_url):
    """A pool of exactly one connection, so the next checkout is the connection the last one returned."""
    engine = make_engine(app_database_url, pool_size=1, max_overflow=0)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_it_reads_and_writes_only_its_tenant_and_commits(sessionmaker, org, other_org) -> None:
    key = f"raw-{uuid.uuid4().hex[:8]}"
    async with raw_tenant_transaction(sessionmaker, org.id) as conn:
        assert {r["org_id"] for r in await conn.fetch("SELECT org_id FROM clients")} == {org.id}
        await conn.execute(_ADD_CLIENT, new_id(), org.id, key)
    async with raw_tenant_transaction(sessionmaker, org.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM clients WHERE external_key = $1", key) == 1
    async with raw_tenant_transaction(sessionmaker, other_org.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM clients WHERE external_key = $1", key) == 0
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(_ADD_CLIENT, new_id(), org.id, f"{key}-forged")


async def test_an_exception_rolls_back_and_leaves_the_connection_clean(one_connection, org) -> None:
    key = f"raw-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match="boom"):
        async with raw_tenant_transaction(one_connection, org.id) as conn:
            await conn.execute(_ADD_CLIENT, new_id(), org.id, key)
            raise RuntimeError("boom")
    async with one_connection() as session:  # the same pooled connection, outside any tenant
        assert (await session.execute(text("SELECT current_setting('app.org_id', true)"))).scalar_one() in ("", None)
    async with raw_tenant_transaction(one_connection, org.id) as conn:
        assert not await conn.fetchval("SELECT count(*) FROM clients WHERE external_key = $1", key)


async def test_a_connection_that_broke_is_discarded_not_reused(one_connection, admin_engine, org) -> None:
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a terminated session
        async with raw_tenant_transaction(one_connection, org.id) as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            async with admin_engine.connect() as admin:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.fetchval("SELECT 1")
    async with raw_tenant_transaction(one_connection, org.id) as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") != pid
        assert await conn.fetchval("SELECT count(*) FROM clients") == 1


async def test_the_shared_lock_is_the_orgs_ingest_lock(sessionmaker, org) -> None:
    async with raw_tenant_transaction(sessionmaker, org.id, shared_lock=LOCK_NAMESPACE) as conn:
        locks = await conn.fetch(
            "SELECT classid, objid, mode FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        expected = await conn.fetchval("SELECT hashtext($1)", str(org.id))
    assert [(r["classid"], r["objid"], r["mode"]) for r in locks] == [
        (LOCK_NAMESPACE, expected & 0xFFFFFFFF, "ShareLock")
    ]


async def test_record_raw_writes_the_row_record_writes(sessionmaker, org) -> None:
    actor = audit.Actor(type="api_key", id="key-1", user_id=new_id(), role="finance")
    common = {
        "org_id": org.id,
        "actor": actor,
        "action": "raw.check",
        "entity_type": "thing",
        "entity_id": 42,
        "request_id": "req-1",
        "detail": {"n": 1, "names": ["a", "b"]},
    }
    async with tenant_session(sessionmaker, org.id) as session:
        await audit.record(session, **common)
    async with raw_tenant_transaction(sessionmaker, org.id) as conn:
        await audit.record_raw(conn, **common)
    async with tenant_session(sessionmaker, org.id) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT org_id, actor_type, actor_id, actor_user_id, actor_role, action, entity_type, entity_id, "
                    "request_id, before_digest, after_digest, detail FROM audit_log WHERE action = 'raw.check'"
                )
            )
        ).all()
    assert len(rows) == 2
    assert rows[0] == rows[1]
    assert rows[0].detail == {"n": 1, "names": ["a", "b"]} and rows[0].entity_id == "42"
