"""Locking a client's billing period and asking whether an instant falls in a locked one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from persistence.models.billing_lock import BillingPeriodLock


async def lock_period(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    client_id: uuid.UUID,
    period: str,
    period_start: datetime,
    period_end: datetime,
    invoice_id: uuid.UUID | None,
) -> None:
    """Idempotent: locking the same client period twice keeps the first lock."""
    await session.execute(
        insert(BillingPeriodLock)
        .values(
            id=new_id(),
            org_id=org_id,
            client_id=client_id,
            period=period,
            period_start=period_start,
            period_end=period_end,
            invoice_id=invoice_id,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "client_id", "period"])
    )


async def locked_periods(session: AsyncSession, client_id: uuid.UUID) -> list[tuple[datetime, datetime]]:
    rows = await session.execute(
        select(BillingPeriodLock.period_start, BillingPeriodLock.period_end)
        .where(BillingPeriodLock.client_id == client_id)
        .order_by(BillingPeriodLock.period_start)
    )
    return [(start, end) for start, end in rows.all()]


async def is_locked(session: AsyncSession, client_id: uuid.UUID, at: datetime) -> bool:
    row = await session.execute(
        select(BillingPeriodLock.id)
        .where(
            BillingPeriodLock.client_id == client_id,
            BillingPeriodLock.period_start <= at,
            BillingPeriodLock.period_end > at,
        )
        .limit(1)
    )
    return row.first() is not None
