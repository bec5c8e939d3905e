"""The demo agency's contracts run: each engagement drafts its first closed month for finance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import msgspec
from sqlalchemy import text
from temporalio.worker import Worker

from activities.registry import build_activities
from cli.demo import DEMO_CONTRACTS, load_demo, start_demo_engagements
from cli.worker import sandbox_runner
from core.settings import app_url_for, load_settings
from persistence.bootstrap import drop_database
from persistence.db import make_engine, make_sessionmaker
from tests.conftest import create_migrated_database
from tests.engagements.conftest import eventually
from workflows.registry import WORKFLOWS


async def test_demo_contracts_start_engagements_that_draft_their_first_month(
    pg_server_url, temporal_env, tmp_path
) -> None:
    name = f"af_demo_{uuid.uuid4().hex[:8]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(app_url_for(admin_url), pool_size=5, max_overflow=5)
    admin = make_engine(admin_url, pool_size=1, max_overflow=1)
    queue = f"demo-{uuid.uuid4().hex[:6]}"
    settings = msgspec.structs.replace(load_settings(), task_queue=queue, ledger_dir=tmp_path)
    try:
        sessionmaker = make_sessionmaker(engine)
        keys = await load_demo(sessionmaker)
        address = temporal_env.client.service_client.config.target_host
        assert await start_demo_engagements(sessionmaker, keys, address, queue) == len(DEMO_CONTRACTS)
        worker = Worker(
            temporal_env.client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=build_activities(sessionmaker=sessionmaker, settings=settings),
            workflow_runner=sandbox_runner(),
        )
        running = asyncio.create_task(worker.run())

        async def drafted() -> list[tuple[str, str, str]]:
            async with admin.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT c.code, i.period, i.currency FROM invoices i "
                            "JOIN contracts c ON c.id = i.contract_id WHERE i.status = 'draft' ORDER BY c.code"
                        )
                    )
                ).all()
            return [tuple(r) for r in rows] if len(rows) == len(DEMO_CONTRACTS) else []

        try:
            # The demo cycles wait a 60 s grace period after each month closes; September closed long ago.
            rows = await eventually(drafted, timeout=120)
        finally:
            await worker.shutdown()
            await running
        today = date.today()
        last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        assert rows == [("HEL-MSA", last_month, "USD"), ("SAK-RET", last_month, "JPY"), ("THM-RET", last_month, "GBP")]
    finally:
        await engine.dispose()
        await admin.dispose()
        await drop_database(pg_server_url, name)
