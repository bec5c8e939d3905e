"""Cross-tenant housekeeping, done through definer functions: the app role itself never sees across orgs."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.liveness import heartbeating
from workflows.names import PURGE_IDEMPOTENCY_KEYS


class MaintenanceActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @activity.defn(name=PURGE_IDEMPOTENCY_KEYS)
    @heartbeating
    async def purge_idempotency_keys(self, retention_hours: int) -> int:
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(
                text("SELECT af_purge_idempotency_keys(make_interval(hours => :h))"), {"h": retention_hours}
            )
            purged: int = result.scalar_one()
        activity.logger.info("purged idempotency keys", extra={"purged": purged})
        return purged
