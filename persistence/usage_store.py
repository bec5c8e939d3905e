"""Usage aggregates: the ONE query the dashboard (``GET /v1/usage``), budgets and billing all call.

Exactness at any moment: every event is counted exactly once, from one of

- the monthly rollup, for UTC calendar months that lie wholly inside one window,
- the daily rollup, for the remaining UTC days that lie wholly inside one window,
- the hourly rollup, for the remaining UTC hours that lie wholly inside one window,
- raw events, for "split" hours (a window boundary falls inside the hour: zones with :30/:45 offsets, or
  ``from``/``to`` not on the hour), and for events of ingest batches the compactor has not folded yet.

Rollup rows and the ``rolled_at`` marks of the batches folded into them are written in one transaction
(``af_compact_usage``) and this module reads all sources in ONE statement, i.e. one snapshot: a batch is
either still raw or already in the rollups, never both or neither. The result therefore equals aggregating
the raw events directly, whatever the compactor is doing.

Aggregations are merged from partials: sum (sum), count (event count), max (max), latest (value of the event
with the greatest (time, source, id), bytewise), unique_count (distinct values: the rollups keep one row per
value, so distinct counts are exact across buckets).

``period_usage`` is the billing interface (see its docstring): same code path, one window, per client.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.gc_pause import gc_paused

HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
WINDOWS: Final = ("hour", "day", "month")
MAX_WINDOWS: Final = 2_000
MAX_RANGE: Final = timedelta(days=400)
ZERO: Final = Decimal(0)


class UsageQueryError(ValueError):
    """A request the query cannot answer (bad range, too many windows, unknown dimension)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


class UsageAggregateRow(msgspec.Struct, frozen=True, gc=False):
    """One meter's usage for one combination of dimension values (``site`` included) in one window.

    A struct outside the cyclic GC: a month of usage is tens of thousands of these, built in one loop, and
    as tracked objects they set off collections that cost more than building them.
    """

    meter: str
    dimensions: dict[str, str]
    quantity: Decimal
    provider_cost: Decimal | None
    event_count: int
    client_id: uuid.UUID
    window_start: datetime
    window_end: datetime
    aggregation: str = "sum"


@dataclass(frozen=True, slots=True)
class MeterInfo:
    id: uuid.UUID
    key: str
    aggregation: str
    dim_names: tuple[str, ...]
    unit: str | None
    status: str


# ---- window planning ----------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise UsageQueryError("from", "instants must carry a UTC offset")
    return value.astimezone(UTC)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0 maps a midnight that falls in a DST gap to the transition instant: the day starts when it starts.
    return datetime.combine(day, dtime(0), tzinfo=zone).astimezone(UTC)


def window_starts(start: datetime, end: datetime, window: str | None, zone: ZoneInfo) -> list[datetime]:
    """Window start instants (UTC): ``start`` then every local hour/day/month boundary strictly inside."""
    bounds = [start]
    if window is None:
        return bounds
    if window == "hour":
        # Local hours start on quarter hours in UTC (every zone offset is a multiple of 15 minutes).
        t = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
        while t < end:
            local = t.astimezone(zone)
            if local.minute == 0 and local.second == 0:
                bounds.append(t)
                if len(bounds) > MAX_WINDOWS:
                    break
            t += timedelta(minutes=15)
    elif window == "day":
        day = start.astimezone(zone).date() + DAY
        while (t := _local_midnight(day, zone)) < end:
            if t > start:
                bounds.append(t)
            if len(bounds) > MAX_WINDOWS:
                break
            day += DAY
    elif window == "month":
        first_local = start.astimezone(zone).date()
        year, month = first_local.year, first_local.month
        while True:
            month += 1
            if month == 13:
                year, month = year + 1, 1
            t = _local_midnight(date(year, month, 1), zone)
            if t >= end:
                break
            if t > start:
                bounds.append(t)
    else:
        raise UsageQueryError("window", f"window must be one of {', '.join(WINDOWS)}")
    if len(bounds) > MAX_WINDOWS:
        raise UsageQueryError("window", f"more than {MAX_WINDOWS} windows; narrow the range or widen the window")
    return bounds


@dataclass(slots=True)
class Plan:
    """Which UTC buckets come from which source; together they tile [start, end) exactly once."""

    starts: list[datetime]
    end: datetime
    months: list[datetime] = field(default_factory=list)
    days: list[datetime] = field(default_factory=list)
    hours: list[datetime] = field(default_factory=list)
    split_hours: list[datetime] = field(default_factory=list)

    def window_end(self, index: int) -> datetime:
        return self.starts[index + 1] if index + 1 < len(self.starts) else self.end


def _next_month(t: datetime) -> datetime:
    return t.replace(year=t.year + 1, month=1) if t.month == 12 else t.replace(month=t.month + 1)


def plan(start: datetime, end: datetime, window: str | None, zone: ZoneInfo) -> Plan:
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise UsageQueryError("to", "`to` must be after `from`")
    if end - start > MAX_RANGE:
        raise UsageQueryError("to", f"the range may span at most {MAX_RANGE.days} days")
    starts = window_starts(start, end, window, zone)
    cuts = sorted({*starts, end})
    result = Plan(starts=starts, end=end)

    def clean(lo: datetime, hi: datetime) -> bool:
        """[lo, hi) lies inside [start, end) with no window boundary strictly inside."""
        if lo < start or hi > end:
            return False
        i = bisect.bisect_right(cuts, lo)
        return i >= len(cuts) or cuts[i] >= hi

    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    full_months: set[tuple[int, int]] = set()
    while month < end:
        following = _next_month(month)
        if clean(month, following):
            full_months.add((month.year, month.month))
            result.months.append(month)
        month = following
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    full_days: set[datetime] = set()
    while day < end:
        if clean(day, day + DAY):
            full_days.add(day)
            if (day.year, day.month) not in full_months:
                result.days.append(day)
        day += DAY
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        if hour in full_days:
            # Every hour of a full day is clean and covered by the day (or its month): skip them at once
            # (a month's plan was 744 hour steps, a tenth of a billing cycle's database work).
            hour += DAY
            continue
        if clean(hour, hour + HOUR):
            if hour.replace(hour=0) not in full_days:
                result.hours.append(hour)
        else:
            result.split_hours.append(hour)
        hour += HOUR
    return result


# ---- SQL ----------------------------------------------------------------------------------------------------

_TIER = """
SELECT width_bucket(r.bucket, $1::timestamptz[]) AS w, r.client_id, r.meter_id, r.site, r.d1, r.d2, r.d3, r.d4,
       r.uniq, r.qty_sum, r.qty_max, r.event_count, r.cost_sum, r.cost_count, r.latest
FROM {table} r
WHERE r.org_id = af_current_org() AND r.bucket = ANY ({buckets}::timestamptz[]) {client} {meters}"""

_RAW_COLUMNS = """
SELECT width_bucket(e.time, $1::timestamptz[]) AS w, e.client_id, m.id AS meter_id,
       e.data #>> m.site_path AS site,
       e.data #>> m.dim1_path AS d1, e.data #>> m.dim2_path AS d2,
       e.data #>> m.dim3_path AS d3, e.data #>> m.dim4_path AS d4,
       CASE WHEN m.aggregation = 'unique_count' THEN e.data #>> m.value_path END AS uniq,
       CASE WHEN m.aggregation = 'sum' THEN (e.data #>> m.value_path)::numeric END AS qty_sum,
       CASE WHEN m.aggregation = 'max' THEN (e.data #>> m.value_path)::numeric END AS qty_max,
       1::bigint AS event_count,
       (e.data #>> m.provider_cost_path)::numeric AS cost_sum,
       (e.data #>> m.provider_cost_path IS NOT NULL)::int::bigint AS cost_count,
       CASE WHEN m.aggregation = 'latest'
            THEN ROW(e.time, e.source, e.event_id, (e.data #>> m.value_path)::numeric)::af_latest END AS latest
FROM usage_events e
CROSS JOIN LATERAL unnest(e.meter_ids) AS mm(id)
JOIN meters m ON m.id = mm.id"""

_RAW_SPLIT = (
    _RAW_COLUMNS
    + """
JOIN unnest({split}::timestamptz[]) AS s(h) ON e.time >= s.h AND e.time < s.h + interval '1 hour'
WHERE e.org_id = af_current_org() AND e.client_id IS NOT NULL AND e.time >= $2 AND e.time < $3 {client} {meters}"""
)

_RAW_UNROLLED = (
    _RAW_COLUMNS
    + """
WHERE e.org_id = af_current_org() AND e.client_id IS NOT NULL AND e.time >= $2 AND e.time < $3
  AND e.batch_id >= (SELECT coalesce(min(b.id), 9223372036854775807) FROM ingest_batches b
                     WHERE b.org_id = af_current_org() AND b.rolled_at IS NULL)
  AND e.batch_id IN (SELECT b.id FROM ingest_batches b WHERE b.org_id = af_current_org() AND b.rolled_at IS NULL)
  AND NOT (date_trunc('hour', e.time, 'UTC') = ANY ({split}::timestamptz[])) {client} {meters}"""
)

_RAW_ALL = (
    _RAW_COLUMNS
    + """{as_of}
WHERE e.org_id = af_current_org() AND e.client_id IS NOT NULL AND e.time >= $2 AND e.time < $3
  {client} {meters} {late}"""
)

_AGGREGATE = """
WITH src AS ({sources}),
lvl AS (
  SELECT s.w, s.client_id, s.meter_id,
         CASE WHEN {keep_site} THEN s.site END AS site,
         CASE WHEN {keep1} THEN s.d1 END AS d1, CASE WHEN {keep2} THEN s.d2 END AS d2,
         CASE WHEN {keep3} THEN s.d3 END AS d3, CASE WHEN {keep4} THEN s.d4 END AS d4,
         s.uniq,
         sum(s.qty_sum) AS qs, max(s.qty_max) AS qm, sum(s.event_count) AS n,
         sum(s.cost_sum) AS cs, sum(s.cost_count) AS cn,
         {latest_inner} AS lt
  FROM src s JOIN meters m ON m.id = s.meter_id
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
)
SELECT w, client_id, meter_id, site, d1, d2, d3, d4,
       sum(qs) AS qty_sum, max(qm) AS qty_max, sum(n)::bigint AS events, count(uniq) AS uniques,
       sum(cs) AS cost_sum, sum(cn)::bigint AS cost_count,
       {latest_outer} AS latest
FROM lvl
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""

# Without a unique_count meter nothing needs the per-value level above: one grouping does (a month of
# 1,000 clients x 20 sites x 3 models is 60,000 groups, and each level costs a sort and an aggregate).
_AGGREGATE_FLAT = """
WITH src AS ({sources})
SELECT s.w, s.client_id, s.meter_id,
       CASE WHEN {keep_site} THEN s.site END AS site,
       CASE WHEN {keep1} THEN s.d1 END AS d1, CASE WHEN {keep2} THEN s.d2 END AS d2,
       CASE WHEN {keep3} THEN s.d3 END AS d3, CASE WHEN {keep4} THEN s.d4 END AS d4,
       sum(s.qty_sum) AS qty_sum, max(s.qty_max) AS qty_max, sum(s.event_count)::bigint AS events,
       0::bigint AS uniques, sum(s.cost_sum) AS cost_sum, sum(s.cost_count)::bigint AS cost_count,
       {latest_flat} AS latest
FROM src s JOIN meters m ON m.id = s.meter_id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""
_LATEST_INNER = "af_latest_agg(s.latest) FILTER (WHERE s.latest IS NOT NULL)"
_LATEST_OUTER = "(af_latest_agg(lt) FILTER (WHERE lt IS NOT NULL)).v"
_LATEST_FLAT = "(af_latest_agg(s.latest) FILTER (WHERE s.latest IS NOT NULL)).v"


@dataclass(frozen=True, slots=True)
class _Query:
    sql: str
    params: list[Any]


def _build(
    p: Plan,
    *,
    client_id: uuid.UUID | None,
    meter_ids: list[uuid.UUID] | None,
    group_by: list[str] | None,
    raw_only: bool,
    late: bool | None,
    as_of: str | None,
    aggregations: frozenset[str],
) -> _Query:
    params: list[Any] = [p.starts, p.starts[0], p.end]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    client = f"AND {{alias}}.client_id = {param(client_id)}" if client_id is not None else ""
    meters = f"AND {{alias}}.meter_id = ANY ({param(meter_ids)}::uuid[])" if meter_ids is not None else ""
    raw_meters = meters.replace("{alias}.meter_id", "mm.id")
    if raw_only:
        late_sql = "" if late is None else f"AND e.late = {param(late)}"
        as_of_sql = ""
        if as_of is not None:
            snapshot = param(as_of)
            as_of_sql = (
                "\nJOIN ingest_batches b ON b.id = e.batch_id"
                f" AND pg_visible_in_snapshot(b.xid, {snapshot}::text::pg_snapshot)"
            )
        sources = [_RAW_ALL.format(as_of=as_of_sql, client=client.format(alias="e"), meters=raw_meters, late=late_sql)]
    else:
        split = param(p.split_hours)
        sources = [
            _RAW_UNROLLED.format(split=split, client=client.format(alias="e"), meters=raw_meters),
        ]
        if p.split_hours:
            sources.append(_RAW_SPLIT.format(split=split, client=client.format(alias="e"), meters=raw_meters))
        for table, buckets in (
            ("usage_rollup_hourly", p.hours),
            ("usage_rollup_daily", p.days),
            ("usage_rollup_monthly", p.months),
        ):
            if buckets:
                sources.append(
                    _TIER.format(
                        table=table,
                        buckets=param(buckets),
                        client=client.format(alias="r"),
                        meters=meters.format(alias="r"),
                    )
                )
    if group_by is None:
        keep = {"keep_site": "TRUE", "keep1": "TRUE", "keep2": "TRUE", "keep3": "TRUE", "keep4": "TRUE"}
    else:
        names = param(group_by)
        keep = {"keep_site": "TRUE" if "site" in group_by else "FALSE"}
        for i in range(1, 5):
            keep[f"keep{i}"] = f"m.dim_names[{i}] = ANY ({names}::text[])"
    latest = "latest" in aggregations
    union = "\nUNION ALL\n".join(sources)
    if "unique_count" in aggregations:
        sql = _AGGREGATE.format(
            sources=union,
            latest_inner=_LATEST_INNER if latest else "NULL::af_latest",
            latest_outer=_LATEST_OUTER if latest else "NULL::numeric",
            **keep,
        )
    else:
        sql = _AGGREGATE_FLAT.format(sources=union, latest_flat=_LATEST_FLAT if latest else "NULL::numeric", **keep)
    return _Query(sql, params)


# ---- public API ---------------------------------------------------------------------------------------------

_METERS = text("SELECT id, key, aggregation, dim_names, unit, status FROM meters")


async def meter_infos(session: AsyncSession) -> dict[uuid.UUID, MeterInfo]:
    rows = (await session.execute(_METERS)).all()
    return {
        row.id: MeterInfo(row.id, row.key, row.aggregation, tuple(row.dim_names or ()), row.unit, row.status)
        for row in rows
    }


async def _run(session: AsyncSession, query: _Query) -> list[Any]:
    raw = await (await session.connection()).get_raw_connection()
    conn: Any = raw.driver_connection
    rows: list[Any] = await conn.fetch(query.sql, *query.params)
    return rows


# Positions in a result row after (w, client_id, meter_id): the SELECT lists of _AGGREGATE and _AGGREGATE_FLAT.
_SITE, _QTY_SUM, _QTY_MAX, _EVENTS, _UNIQUES, _COST_SUM, _COST_COUNT, _LATEST = 0, 5, 6, 7, 8, 9, 10, 11
_QUANTITY_COLUMN: Final = {
    "sum": _QTY_SUM,
    "count": _EVENTS,
    "max": _QTY_MAX,
    "latest": _LATEST,
    "unique_count": _UNIQUES,
}


def _quantity(aggregation: str, values: list[Any]) -> Decimal:
    value = values[_QUANTITY_COLUMN.get(aggregation, _UNIQUES)]
    return ZERO if value is None else Decimal(value)


async def usage_windows(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    window: str | None = None,
    tz: str | ZoneInfo = "UTC",
    client_id: uuid.UUID | None = None,
    meters: list[str] | None = None,
    group_by: list[str] | None = None,
    only_late: bool = False,
    exclude_late: bool = False,
    as_of: str | None = None,
) -> list[UsageAggregateRow]:
    """Usage per window, client, meter and dimension values over [start, end), exact at any moment.

    ``window`` None gives one window; "hour"/"day"/"month" split at local boundaries of ``tz``.
    ``group_by`` None keeps every dimension of each meter (site included); a list keeps only those names
    (``site`` or a meter's group-by names) and aggregates over the others. ``meters`` filters by key.
    ``session`` must be tenant-bound (RLS); the statement reads everything in one snapshot.
    """
    if only_late and exclude_late:
        raise UsageQueryError("late", "only_late and exclude_late exclude each other")
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    p = plan(start, end, window, zone)
    infos = await meter_infos(session)
    meter_ids: list[uuid.UUID] | None = None
    if meters is not None:
        by_key = {info.key: info.id for info in infos.values()}
        unknown = [key for key in meters if key not in by_key]
        if unknown:
            raise UsageQueryError("meter", f"unknown meter {', '.join(repr(k) for k in unknown)}")
        meter_ids = [by_key[key] for key in meters]
    if group_by is not None:
        known = {"site"} | {name for info in infos.values() for name in info.dim_names}
        bad = [name for name in group_by if name not in known]
        if bad:
            raise UsageQueryError("group_by", f"unknown dimension {', '.join(repr(b) for b in bad)}")
    raw_only = only_late or exclude_late or as_of is not None
    late = True if only_late else False if exclude_late else None
    queried = infos.values() if meter_ids is None else [infos[i] for i in meter_ids]
    query = _build(
        p,
        client_id=client_id,
        meter_ids=meter_ids,
        group_by=group_by,
        raw_only=raw_only,
        late=late,
        as_of=as_of,
        aggregations=frozenset(info.aggregation for info in queried),
    )
    rows = await _run(session, query)
    # Per meter, its dimension columns in name order: each row's dimensions come out sorted by name, so
    # the sort key below takes them as they are (a sort per row was a third of a month query's Python).
    layouts = {
        info.id: (info, tuple(sorted([("site", _SITE), *((n, _SITE + i) for i, n in enumerate(info.dim_names, 1))])))
        for info in infos.values()
    }
    ends = [p.window_end(i) for i in range(len(p.starts))]
    keyed: list[tuple[tuple[Any, ...], UsageAggregateRow]] = []
    with gc_paused():
        for row in rows:
            w, client, meter_id, *values = row  # positional: a Record looks names up per access
            info, columns = layouts[meter_id]
            dims: dict[str, str] = {}
            for name, column in columns:
                value = values[column]
                if value is not None:
                    dims[name] = value
            index = w - 1
            keyed.append(
                (
                    # str(uuid) order is uuid.int order; the int compares without a Python-level __lt__.
                    (index, client.int, info.key, tuple(dims.items())),
                    UsageAggregateRow(
                        meter=info.key,
                        dimensions=dims,
                        quantity=_quantity(info.aggregation, values),
                        provider_cost=values[_COST_SUM] if values[_COST_COUNT] else None,
                        event_count=values[_EVENTS],
                        client_id=client,
                        window_start=p.starts[index],
                        window_end=ends[index],
                        aggregation=info.aggregation,
                    ),
                )
            )
        keyed.sort(key=_first)
        return [row for _, row in keyed]


def _first(pair: tuple[tuple[Any, ...], UsageAggregateRow]) -> tuple[Any, ...]:
    return pair[0]


async def period_usage(
    session: AsyncSession,
    client_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    meters: list[str] | None = None,
    only_late: bool = False,
    exclude_late: bool = False,
    as_of: str | None = None,
) -> list[UsageAggregateRow]:
    """A client's usage over [start, end) per (meter key, dimensions incl. site): what billing rates.

    Same code path as ``GET /v1/usage`` (the dashboard), so invoice and dashboard agree by construction.

    - default: every stored event, exact at this moment.
    - ``exclude_late=True``: only events that were not late when ingested, i.e. what existed when the
      period's billing lock was taken (ingest and locking serialise on an advisory lock, see
      ``persistence.ingest``); ``only_late=True``: the late events alone (for additive meters: the delta).
    - ``as_of=<token from usage_snapshot()>``: only events whose ingest transaction had committed when the
      token was taken: recompute exactly what an invoice saw, then ``late_usage_delta`` gives now − then for
      every aggregation (also max/latest/unique_count, where late-only aggregates are not deltas).

    Quantities and costs are exact Decimals; ``provider_cost`` is None when no event carried a cost.
    """
    rows = await usage_windows(
        session,
        start,
        end,
        client_id=client_id,
        meters=meters,
        only_late=only_late,
        exclude_late=exclude_late,
        as_of=as_of,
    )
    return rows


async def usage_snapshot(session: AsyncSession) -> str:
    """An opaque token naming "the events committed now"; pass it as ``as_of`` later to replay that view."""
    value = (await session.execute(text("SELECT pg_current_snapshot()::text"))).scalar_one()
    return str(value)


@dataclass(frozen=True, slots=True)
class UsageDelta:
    meter: str
    dimensions: dict[str, str]
    quantity: Decimal
    provider_cost: Decimal | None
    billed_quantity: Decimal
    current_quantity: Decimal


async def late_usage_delta(
    session: AsyncSession,
    client_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    billed_as_of: str,
    meters: list[str] | None = None,
) -> list[UsageDelta]:
    """Per (meter, dimensions): usage now minus usage as of the billed snapshot, non-zero changes only.

    Adding ``quantity`` to what was billed gives what is stored now, for every aggregation.
    """
    now_rows = await period_usage(session, client_id, start, end, meters=meters)
    then_rows = await period_usage(session, client_id, start, end, meters=meters, as_of=billed_as_of)

    def key(row: UsageAggregateRow) -> tuple[str, tuple[tuple[str, str], ...]]:
        return row.meter, tuple(sorted(row.dimensions.items()))

    then = {key(r): r for r in then_rows}
    now = {key(r): r for r in now_rows}
    out: list[UsageDelta] = []
    for k in sorted(set(then) | set(now)):
        old, new = then.get(k), now.get(k)
        old_q = old.quantity if old else ZERO
        new_q = new.quantity if new else ZERO
        old_c = old.provider_cost if old else None
        new_c = new.provider_cost if new else None
        cost = None if old_c is None and new_c is None else (new_c or ZERO) - (old_c or ZERO)
        if new_q != old_q or (cost is not None and cost != 0):
            out.append(UsageDelta(k[0], dict(k[1]), new_q - old_q, cost, old_q, new_q))
    return out


async def provider_cost(
    session: AsyncSession, start: date, end: date
) -> list[tuple[uuid.UUID, uuid.UUID | None, str, Decimal]]:
    """Metered provider cost (the agency's AI inference cost) per client over the UTC days [start, end].

    Costs are recorded in the client's currency. Usage is not attributed to projects (events name a client
    and a site, not a project), so the project slot is None.
    """
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    rows = await usage_windows(session, begin, stop, group_by=[])
    totals: dict[uuid.UUID, Decimal] = {}
    for row in rows:
        if row.provider_cost is not None and row.client_id is not None:
            totals[row.client_id] = totals.get(row.client_id, Decimal(0)) + row.provider_cost
    if not totals:
        return []
    query = text("SELECT id, currency FROM clients WHERE id = ANY(:ids)")
    currencies: dict[uuid.UUID, str] = {
        row.id: row.currency for row in await session.execute(query, {"ids": list(totals)})
    }
    return [(client, None, currencies[client], amount) for client, amount in sorted(totals.items(), key=str)]
