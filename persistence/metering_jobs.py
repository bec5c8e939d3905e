"""Background metering work the worker runs: fold ingest batches into rollups, evaluate usage budgets,
and keep the webhook delivery log. Activities call these; tests call them directly too.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.ids import new_id
from persistence.db import tenant_session
from persistence.usage_store import usage_windows

BUDGET_EVENT = "budget.threshold_reached"
_encoder = msgspec.json.Encoder(decimal_format="string")


# ---- compaction ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Touched:
    org_id: uuid.UUID
    client_id: uuid.UUID
    meter_id: uuid.UUID
    first_bucket: datetime
    last_bucket: datetime


@dataclass(slots=True)
class Compaction:
    batches: int = 0
    events: int = 0
    touched: list[Touched] = field(default_factory=list)


async def compact(sessionmaker: async_sessionmaker[AsyncSession], max_batches: int = 200) -> Compaction:
    """Fold up to ``max_batches`` committed, un-rolled batches (of any org) in one transaction."""
    result = Compaction()
    async with sessionmaker() as session, session.begin():
        rows = (await session.execute(text("SELECT * FROM af_compact_usage(:n)"), {"n": max_batches})).all()
    for row in rows:
        result.batches = row.batches
        result.events += row.events
        if row.org_id is not None:
            result.touched.append(Touched(row.org_id, row.client_id, row.meter_id, row.first_bucket, row.last_bucket))
    return result


async def compact_all(sessionmaker: async_sessionmaker[AsyncSession], max_batches: int = 200) -> Compaction:
    """Fold until nothing is left (tests, benchmarks, catching up after a burst)."""
    total = Compaction()
    while True:
        step = await compact(sessionmaker, max_batches)
        if step.batches == 0:
            return total
        total.batches += step.batches
        total.events += step.events
        total.touched += step.touched


async def ensure_partitions_ahead(
    sessionmaker: async_sessionmaker[AsyncSession], today: date | None = None, months: int = 2
) -> None:
    """Create this month's and the next ``months`` months' event partitions before anyone needs them."""
    today = today or datetime.now(UTC).date()
    async with sessionmaker() as session, session.begin():
        for step in range(months + 1):
            index = today.year * 12 + today.month - 1 + step
            await session.execute(
                text("SELECT af_ensure_usage_partition(make_date(:y, :m, 1))"), {"y": index // 12, "m": index % 12 + 1}
            )


# ---- budgets ------------------------------------------------------------------------------------------------


def budget_periods(
    first: datetime, last: datetime, zone: ZoneInfo, period: str, limit: int = 3
) -> list[tuple[datetime, datetime]]:
    """The client-local budget periods (month or day) overlapping [first, last], newest ``limit`` of them."""
    out: list[tuple[datetime, datetime]] = []
    local = first.astimezone(zone).date()
    end_local = last.astimezone(zone).date()
    if period == "day":
        day = local
        while day <= end_local:
            start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
            out.append(
                (
                    start.astimezone(UTC),
                    (datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)).astimezone(UTC),
                )
            )
            day += timedelta(days=1)
    else:
        year, month = local.year, local.month
        while (year, month) <= (end_local.year, end_local.month):
            nxt = (year + (month == 12), month % 12 + 1)
            start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
            end = datetime(nxt[0], nxt[1], 1, tzinfo=zone).astimezone(UTC)
            out.append((start, end))
            year, month = nxt
    return out[-limit:]


class BudgetEvent(msgspec.Struct):
    budget_id: uuid.UUID
    client_id: uuid.UUID
    client: str
    meter: str
    unit: str | None
    kind: str
    period: str
    period_start: datetime
    period_end: datetime
    threshold_percent: int
    limit: Decimal
    usage: Decimal


class WebhookEvent(msgspec.Struct):
    id: uuid.UUID
    type: str
    created_at: datetime
    data: Any


_BUDGETS = text(
    """
    SELECT b.id, b.client_id, b.meter_id, b.period, b.kind, b.limit_value, b.thresholds,
           c.timezone, c.external_key, m.key AS meter_key, m.unit
    FROM usage_budgets b JOIN clients c ON c.id = b.client_id JOIN meters m ON m.id = b.meter_id
    WHERE b.status = 'active' AND b.client_id = ANY(:clients) AND b.meter_id = ANY(:meters)
    """
)
_FIRE = text(
    """
    INSERT INTO usage_budget_alerts (id, org_id, budget_id, period_start, period_end, threshold, usage, limit_value)
    VALUES (:id, :org, :budget, :start, :end, :threshold, :usage, :limit)
    ON CONFLICT (budget_id, period_start, threshold) DO NOTHING
    RETURNING id
    """
)
_ENDPOINTS = text(
    "SELECT id FROM webhook_endpoints WHERE status = 'active' "
    "AND (cardinality(event_types) = 0 OR :type = ANY(event_types)) ORDER BY id"
)
_DELIVERY = text(
    "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, payload) "
    "VALUES (:id, :org, :endpoint, :event, :type, :payload)"
)


async def evaluate_budgets(
    sessionmaker: async_sessionmaker[AsyncSession], touched: list[Touched], now: datetime | None = None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Fire every threshold newly reached by the touched (client, meter) pairs; returns (org, delivery) ids.

    Each threshold fires once per budget period: the alert row's unique key decides, so concurrent
    evaluators and re-evaluations cannot fire it twice.
    """
    now = now or datetime.now(UTC)
    by_org: dict[uuid.UUID, dict[tuple[uuid.UUID, uuid.UUID], tuple[datetime, datetime]]] = defaultdict(dict)
    for t in touched:
        pairs = by_org[t.org_id]
        key = (t.client_id, t.meter_id)
        old = pairs.get(key)
        pairs[key] = (
            (t.first_bucket, t.last_bucket)
            if old is None
            else (
                min(old[0], t.first_bucket),
                max(old[1], t.last_bucket),
            )
        )
    deliveries: list[tuple[uuid.UUID, uuid.UUID]] = []
    for org_id, pairs in by_org.items():
        async with tenant_session(sessionmaker, org_id) as session:
            budgets = (
                await session.execute(
                    _BUDGETS,
                    {"clients": sorted({c for c, _ in pairs}), "meters": sorted({m for _, m in pairs})},
                )
            ).all()
            for budget in budgets:
                span = pairs.get((budget.client_id, budget.meter_id))
                if span is None:
                    continue
                zone = ZoneInfo(budget.timezone)
                for start, end in budget_periods(span[0], span[1], zone, budget.period):
                    deliveries += await _check_budget(session, org_id, budget, start, end, now)
    return deliveries


async def _check_budget(
    session: AsyncSession, org_id: uuid.UUID, budget: Any, start: datetime, end: datetime, now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = await usage_windows(session, start, end, client_id=budget.client_id, meters=[budget.meter_key], group_by=[])
    if budget.kind == "quantity":
        used = sum((r.quantity for r in rows), Decimal(0))
    else:
        used = sum((r.provider_cost or Decimal(0) for r in rows), Decimal(0))
    limit: Decimal = budget.limit_value
    out: list[tuple[uuid.UUID, uuid.UUID]] = []
    for threshold in sorted(budget.thresholds):
        if used * 100 < limit * threshold:
            break
        alert_id = new_id()
        fired = (
            await session.execute(
                _FIRE,
                {
                    "id": alert_id,
                    "org": org_id,
                    "budget": budget.id,
                    "start": start,
                    "end": end,
                    "threshold": threshold,
                    "usage": used,
                    "limit": limit,
                },
            )
        ).first()
        if fired is None:
            continue
        event = WebhookEvent(
            id=alert_id,
            type=BUDGET_EVENT,
            created_at=now,
            data=BudgetEvent(
                budget_id=budget.id,
                client_id=budget.client_id,
                client=budget.external_key,
                meter=budget.meter_key,
                unit=budget.unit,
                kind=budget.kind,
                period=budget.period,
                period_start=start,
                period_end=end,
                threshold_percent=threshold,
                limit=limit,
                usage=used,
            ),
        )
        out += await enqueue_event(session, org_id, event)
    return out


async def enqueue_event(
    session: AsyncSession, org_id: uuid.UUID, event: WebhookEvent, endpoint_ids: list[uuid.UUID] | None = None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """One delivery row per subscribed endpoint (or the given ones); the payload is frozen here."""
    payload = _encoder.encode(event).decode()
    if endpoint_ids is None:
        endpoint_ids = [row.id for row in (await session.execute(_ENDPOINTS, {"type": event.type})).all()]
    out: list[tuple[uuid.UUID, uuid.UUID]] = []
    for endpoint_id in endpoint_ids:
        delivery_id = new_id()
        await session.execute(
            _DELIVERY,
            {
                "id": delivery_id,
                "org": org_id,
                "endpoint": endpoint_id,
                "event": event.id,
                "type": event.type,
                "payload": payload,
            },
        )
        out.append((org_id, delivery_id))
    return out


# ---- webhook deliveries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    url: str
    secret: str
    payload: str
    status: str
    endpoint_status: str
    attempts: int


_LOAD_DELIVERY = text(
    """
    SELECT d.id, d.event_id, d.event_type, d.payload, d.status, d.attempts, e.url, e.secret, e.status AS endpoint_status
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.id = :id
    """
)


async def load_delivery(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryJob | None:
    async with tenant_session(sessionmaker, org_id) as session:
        row = (await session.execute(_LOAD_DELIVERY, {"id": delivery_id})).first()
    if row is None:
        return None
    return DeliveryJob(
        delivery_id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        url=row.url,
        secret=row.secret,
        payload=row.payload,
        status=row.status,
        endpoint_status=row.endpoint_status,
        attempts=row.attempts,
    )


async def record_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    delivered: bool,
) -> int:
    """Log one attempt and update the delivery in one transaction; returns the attempt number."""
    async with tenant_session(sessionmaker, org_id) as session:
        attempt = (
            await session.execute(
                text(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = :code, "
                    "last_error = :error, status = CASE WHEN :ok THEN 'delivered' ELSE status END, "
                    "delivered_at = CASE WHEN :ok THEN now() ELSE delivered_at END "
                    "WHERE id = :id RETURNING attempts"
                ),
                {"code": status_code, "error": error, "ok": delivered, "id": delivery_id},
            )
        ).scalar_one()
        await session.execute(
            text(
                "INSERT INTO webhook_delivery_attempts (id, org_id, delivery_id, attempt, status_code, error, "
                "duration_ms) VALUES (:id, :org, :delivery, :attempt, :code, :error, :ms)"
            ),
            {
                "id": new_id(),
                "org": org_id,
                "delivery": delivery_id,
                "attempt": attempt,
                "code": status_code,
                "error": error,
                "ms": duration_ms,
            },
        )
    return int(attempt)


async def mark_failed(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID, delivery_id: uuid.UUID, error: str
) -> None:
    async with tenant_session(sessionmaker, org_id) as session:
        await session.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'failed', last_error = coalesce(last_error, :error) "
                "WHERE id = :id AND status = 'pending'"
            ),
            {"id": delivery_id, "error": error},
        )


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    """How much one dispatch round may start: ``limit`` in all, ``per_endpoint`` of one endpoint (so a
    backlog at one endpoint cannot crowd out the others), and no more of an endpoint than bring its
    deliveries retrying after a failed attempt up to ``max_failing`` (a dead target keeps about that many
    retrying; the rest wait, pending and due, until those succeed or give up)."""

    limit: int = 500
    per_endpoint: int = 50
    max_failing: int = 20


async def claim_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession],
    hold: timedelta,
    limits: DispatchLimits = DispatchLimits(),
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Claim the pending deliveries (of any org) due to have their workflow started; each claimed row is not
    due again for ``hold``, so a dispatcher that dies after claiming loses nothing for longer than that."""
    async with sessionmaker() as session, session.begin():
        rows = (
            await session.execute(
                text(
                    "SELECT org_id, delivery_id FROM af_claim_webhook_deliveries("
                    ":limit, :per_endpoint, :max_failing, make_interval(secs => :hold))"
                ),
                {
                    "limit": limits.limit,
                    "per_endpoint": limits.per_endpoint,
                    "max_failing": limits.max_failing,
                    "hold": hold.total_seconds(),
                },
            )
        ).all()
    return [(row.org_id, row.delivery_id) for row in rows]


async def hold_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession], started: list[tuple[uuid.UUID, uuid.UUID]], lease: timedelta
) -> None:
    """The workflows of ``started`` run (or ran): not due again for ``lease``, longer than a delivery's whole
    retry schedule, so a delivery that keeps failing is not dispatched again while its workflow retries."""
    by_org: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for org_id, delivery_id in started:
        by_org[org_id].append(delivery_id)
    for org_id, ids in by_org.items():
        async with tenant_session(sessionmaker, org_id) as session:
            await session.execute(
                text(
                    "UPDATE webhook_deliveries SET dispatch_at = now() + make_interval(secs => :lease) "
                    "WHERE id = ANY(:ids) AND status = 'pending'"
                ),
                {"ids": ids, "lease": lease.total_seconds()},
            )
