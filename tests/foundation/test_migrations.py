"""Migrations upgrade, downgrade and upgrade again on an empty database."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from core.settings import to_plain_url, with_database
from persistence import migrate
from persistence.bootstrap import drop_database, ensure_database


async def table_names(url: str) -> set[str]:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade(pg_server_url: str) -> None:
    name = f"af_mig_{uuid.uuid4().hex[:8]}"
    url = with_database(pg_server_url, name)
    await ensure_database(url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        upgraded = await table_names(url)
        assert {"orgs", "clients", "sites", "projects", "people", "audit_log", "api_keys"} <= upgraded
        await asyncio.to_thread(migrate.downgrade, url, "base")
        assert await table_names(url) == {"alembic_version"}
        await asyncio.to_thread(migrate.upgrade, url)
        assert await table_names(url) == upgraded
    finally:
        await drop_database(pg_server_url, name)


def test_single_head() -> None:
    assert len(migrate.current_heads("postgresql://unused@127.0.0.1/unused")) == 1
