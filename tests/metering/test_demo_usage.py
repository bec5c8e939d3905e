"""The metering demo data loads through the real ingest path and is exact in the usage query."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from cli.demo import load_demo, load_demo_usage
from core.settings import app_url_for
from persistence.bootstrap import drop_database
from persistence.db import make_engine, make_sessionmaker, tenant_session
from tests.conftest import create_migrated_database


async def test_demo_usage_loads_and_folds(pg_server_url) -> None:
    name = f"af_demo_usage_{uuid.uuid4().hex[:8]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(app_url_for(admin_url), pool_size=4, max_overflow=4)
    try:
        sessionmaker = make_sessionmaker(engine)
        keys = await load_demo(sessionmaker)
        stored = await load_demo_usage(sessionmaker, keys)
        assert stored > 1_000
        total = 0
        for key in keys:
            async with tenant_session(sessionmaker, key.org_id) as session:
                meters = set((await session.execute(text("SELECT key FROM meters"))).scalars())
                events = (await session.execute(text("SELECT count(*) FROM usage_events"))).scalar_one()
                unrolled = (
                    await session.execute(text("SELECT count(*) FROM ingest_batches WHERE rolled_at IS NULL"))
                ).scalar_one()
                budgets = (await session.execute(text("SELECT count(*) FROM usage_budgets"))).scalar_one()
            assert meters == {"tokens", "requests", "documents"}
            assert unrolled == 0 and budgets == 1
            total += events
        assert total == stored
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)
