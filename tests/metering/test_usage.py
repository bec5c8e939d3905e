"""GET /v1/usage and period_usage return exactly the raw aggregate: every aggregation, every window, time-zone
edges, before/while/after compaction, and while ingest is running."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from core.permissions import Role
from persistence.billing_locks import lock_period
from persistence.db import set_tenant, tenant_session
from persistence.metering_jobs import compact, compact_all
from persistence.usage_store import late_usage_delta, period_usage, usage_snapshot, usage_windows
from tests.metering.conftest import api_rows, event, oracle, post_batch

NOW = datetime.now(UTC)
SITES = {"acme": ["berlin", "paris"], "globex": ["pune", "delhi"]}


def last_transition(zone: ZoneInfo, before: datetime) -> datetime:
    """The most recent UTC-offset change of ``zone`` before ``before`` (a DST switch)."""
    t = before.replace(minute=0, second=0, microsecond=0)
    offset = t.astimezone(zone).utcoffset()
    for _ in range(24 * 400):
        t -= timedelta(hours=1)
        if t.astimezone(zone).utcoffset() != offset:
            return t + timedelta(hours=1)
    raise AssertionError("no transition within 400 days")


def local_month_start(zone: ZoneInfo, at: datetime) -> datetime:
    local = at.astimezone(zone)
    return datetime(local.year, local.month, 1, tzinfo=zone).astimezone(UTC)


def gen_events(rnd: random.Random, anchors: list[datetime], per_anchor: int) -> list[dict[str, Any]]:
    """Events scattered around each anchor (within +-36 h), plus events exactly on and 1 µs around it."""
    out: list[dict[str, Any]] = []
    for anchor in anchors:
        moments = [anchor, anchor - timedelta(microseconds=1), anchor + timedelta(microseconds=1)]
        moments += [anchor + timedelta(seconds=rnd.uniform(-36 * 3600, 36 * 3600)) for _ in range(per_anchor)]
        for at in moments:
            if at > NOW - timedelta(minutes=1) or at < NOW - timedelta(days=360):
                continue
            subject = rnd.choice(["acme", "globex"])
            site = rnd.choice(SITES[subject])
            kind = rnd.random()
            source = rnd.choice(["app-a", "app-b"])
            if kind < 0.6:
                data = {
                    "site": site,
                    "model": rnd.choice(["small", "large"]),
                    "tokens": rnd.choice([rnd.randint(1, 5000), Decimal(rnd.randint(1, 99999)) / 1000]),
                    "context": rnd.randint(1, 128_000),
                    "user": f"u{rnd.randint(1, 12)}",
                }
                if rnd.random() < 0.7:
                    data["cost"] = Decimal(rnd.randint(1, 10**6)) / 10**7
                out.append(event(subject, time=at, data=data, source=source))
            elif kind < 0.8:
                data = {"site": site, "seats": rnd.randint(1, 50)}
                out.append(event(subject, type="seats.snapshot", time=at, data=data, source=source))
            else:
                data = {
                    "site": site,
                    "category": rnd.choice(["invoice", "contract", None]),
                    "usage": {"pages": rnd.randint(1, 30)},
                }
                if data["category"] is None:
                    del data["category"]
                out.append(event(subject, type="docs.processed", time=at, data=data, source=source))
    # Same time, different source/id: exercises the latest tie-break.
    if out:
        twin = dict(out[-1])
        twin["id"] = twin["id"] + "-twin"
        twin["source"] = "zz-" + twin["source"]
        out.append(twin)
    return out


async def ingest(mclient, metered, events: list[dict[str, Any]], size: int = 97) -> None:
    for i in range(0, len(events), size):
        result = await post_batch(mclient, metered, events[i : i + size])
        assert result["rejected"] == 0, [r for r in result["results"] if r["status"] == "rejected"][:3]


async def api_usage(mclient, metered, **params: Any) -> dict:
    response = await mclient.get("/v1/usage", params=params, headers=metered.headers())
    assert response.status_code == 200, response.text
    return api_rows(response.json()["items"], metered.clients)


@pytest.fixture
async def scenario(mclient, metered):
    rnd = random.Random(20261125)
    kolkata, new_york = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
    month = local_month_start(kolkata, NOW - timedelta(days=3))
    dst = last_transition(new_york, NOW - timedelta(days=2))
    day_edge = datetime.combine((NOW - timedelta(days=5)).date(), datetime.min.time(), tzinfo=kolkata).astimezone(UTC)
    this_month = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    utc_month = (this_month - timedelta(days=1)).replace(day=1)  # a whole UTC month: read from the monthly tier
    anchors = [month, dst, day_edge, NOW - timedelta(days=1), utc_month, utc_month + timedelta(days=14), this_month]
    events = gen_events(rnd, anchors, 120)
    await ingest(mclient, metered, events)
    lo = min(anchors) - timedelta(days=2)
    hi = NOW
    return {"events": events, "lo": lo, "hi": hi, "month": month, "dst": dst, "day_edge": day_edge}


CASES = [
    # (window, tz, group_by)
    (None, "UTC", None),
    (None, "UTC", []),
    ("month", "Asia/Kolkata", None),
    ("month", "Asia/Kolkata", ["site"]),
    ("day", "America/New_York", None),
    ("day", "Asia/Kolkata", ["model", "category"]),
    ("day", "UTC", None),
    ("month", "UTC", []),
    ("hour", "Asia/Kathmandu", ["site"]),
    ("hour", "America/New_York", None),
]


def _params(s: dict, window: str | None, tz: str, group_by: list[str] | None, lo: datetime, hi: datetime) -> dict:
    params: dict[str, Any] = {"from": lo.isoformat(), "to": hi.isoformat(), "tz": tz}
    if window:
        params["window"] = window
    if group_by is not None:
        params["group_by"] = ",".join(group_by)
    return params


async def check_all_cases(mclient, metered, s: dict) -> None:
    for window, tz, group_by in CASES:
        lo, hi = s["lo"], s["hi"]
        if window == "hour":  # keep the number of windows modest
            lo, hi = s["dst"] - timedelta(hours=30), s["dst"] + timedelta(hours=30)
        got = await api_usage(mclient, metered, **_params(s, window, tz, group_by, lo, hi))
        want = oracle(
            s["events"], metered.meters, start=lo, end=hi, window=window, zone=ZoneInfo(tz), group_by=group_by
        )
        assert got == want, (window, tz, group_by, _diff(got, want))


def _diff(got: dict, want: dict) -> list:
    keys = set(got) | set(want)
    return sorted(((k, got.get(k), want.get(k)) for k in keys if got.get(k) != want.get(k)), key=str)[:5]


async def test_usage_equals_raw_aggregation_before_during_and_after_compaction(
    mclient, metered, scenario, sessionmaker
) -> None:
    await check_all_cases(mclient, metered, scenario)  # nothing folded yet: all raw
    await compact(sessionmaker, max_batches=3)  # partly folded
    await check_all_cases(mclient, metered, scenario)
    await compact_all(sessionmaker)
    await check_all_cases(mclient, metered, scenario)
    # More events land on rows that already exist in the rollups: upserts must merge every aggregation.
    rnd = random.Random(99)
    more = gen_events(rnd, [scenario["month"], scenario["day_edge"]], 60)
    await ingest(mclient, metered, more)
    scenario["events"] = scenario["events"] + more
    await check_all_cases(mclient, metered, scenario)
    await compact_all(sessionmaker)
    await check_all_cases(mclient, metered, scenario)


async def test_edges_at_odd_offsets_and_unaligned_ranges(mclient, metered, scenario, sessionmaker) -> None:
    await compact_all(sessionmaker)
    s = scenario
    lo = s["month"] - timedelta(hours=7, minutes=13, seconds=5, microseconds=17)
    hi = s["month"] + timedelta(days=1, minutes=45, microseconds=3)
    for tz in ("Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "UTC"):
        for window in ("hour", "day", None):
            got = await api_usage(mclient, metered, **_params(s, window, tz, None, lo, hi))
            want = oracle(s["events"], metered.meters, start=lo, end=hi, window=window, zone=ZoneInfo(tz))
            assert got == want, (tz, window, _diff(got, want))


async def test_month_windows_follow_the_clients_zone(mclient, metered, scenario) -> None:
    s = scenario
    client = metered.clients["globex"]  # Asia/Kolkata: the month starts at 18:30 UTC the day before
    response = await mclient.get(
        "/v1/usage",
        params={
            "from": s["lo"].isoformat(),
            "to": s["hi"].isoformat(),
            "window": "month",
            "client": client,
            "meter": "tokens",
        },
        headers=metered.headers(),
    )
    body = response.json()
    assert body["tz"] == "Asia/Kolkata"
    starts = sorted({datetime.fromisoformat(i["window_start"]) for i in body["items"]})
    assert starts[0] == s["lo"]
    assert s["month"] in starts
    for start in starts[1:]:  # every later window opens at midnight on the 1st in Kolkata, 18:30 UTC
        local = start.astimezone(ZoneInfo("Asia/Kolkata"))
        assert (local.day, local.hour, local.minute, start.hour, start.minute) == (1, 0, 0, 18, 30)
    want = oracle(
        s["events"],
        {"tokens": metered.meters["tokens"]},
        start=s["lo"],
        end=s["hi"],
        window="month",
        zone=ZoneInfo("Asia/Kolkata"),
        subject="globex",
    )
    assert api_rows(body["items"], metered.clients) == want


async def test_every_aggregation_is_present(metered, scenario, mclient) -> None:
    got = await api_usage(
        mclient, metered, **{"from": scenario["lo"].isoformat(), "to": scenario["hi"].isoformat(), "group_by": ""}
    )
    assert {k[2] for k in got} == {"tokens", "requests", "peak", "users", "seats", "documents"}


async def test_each_meter_alone_equals_the_raw_aggregate(mclient, metered, scenario, sessionmaker) -> None:
    """One meter at a time takes the query's lighter shapes (no per-value level without a unique_count meter,
    no latest aggregate without a latest meter); each must still equal the raw aggregation."""
    await compact(sessionmaker, max_batches=3)  # part folded, part raw
    s, zone = scenario, ZoneInfo("Asia/Kolkata")
    for key, meter in metered.meters.items():
        params = {**_params(s, "day", zone.key, None, s["lo"], s["hi"]), "meter": key}
        got = await api_usage(mclient, metered, **params)
        want = oracle(s["events"], {key: meter}, start=s["lo"], end=s["hi"], window="day", zone=zone)
        assert want, key  # the scenario has usage for every meter
        assert got == want, (key, _diff(got, want))


async def test_usage_rows_come_ordered_by_window_client_meter_and_dimensions(mclient, metered, scenario) -> None:
    s = scenario
    response = await mclient.get(
        "/v1/usage", params=_params(s, "day", "UTC", None, s["lo"], s["hi"]), headers=metered.headers()
    )
    items = response.json()["items"]
    order = [
        (
            datetime.fromisoformat(i["window_start"]),
            uuid.UUID(i["client_id"]),
            i["meter"],
            sorted(i["dimensions"].items()),
        )
        for i in items
    ]
    assert len(order) > 100
    assert order == sorted(order)
    assert len({(w, c, m, tuple(d)) for w, c, m, d in order}) == len(order)


async def test_usage_is_exact_while_ingest_and_compaction_run(mclient, metered, sessionmaker) -> None:
    """Senders, a compactor and readers at once: every read must equal a plain raw aggregation taken in the
    same snapshot (REPEATABLE READ), and the final state must equal the Python oracle."""
    rnd = random.Random(5)
    start = NOW - timedelta(days=3)
    events = gen_events(rnd, [NOW - timedelta(days=2), NOW - timedelta(days=1, hours=5)], 400)
    chunks = [events[i::6] for i in range(6)]
    stop = asyncio.Event()
    checks = started = 0
    read_started = asyncio.Condition()

    async def sender(chunk: list[dict[str, Any]]) -> None:
        for i in range(0, len(chunk), 15):
            before = started
            await post_batch(mclient, metered, chunk[i : i + 15])
            async with read_started:  # interleave: a read begins between each of my batches
                await read_started.wait_for(lambda before=before: started != before)

    folded = 0

    async def compactor() -> None:
        nonlocal folded
        while not stop.is_set():
            folded += (await compact(sessionmaker, max_batches=2)).events
            await asyncio.sleep(0.005)

    async def reader() -> None:
        nonlocal checks, started
        while not stop.is_set():
            async with read_started:
                started += 1
                read_started.notify_all()
            async with sessionmaker() as session:
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                await set_tenant(session, metered.org.id)
                rows = await usage_windows(session, start, NOW, window="day", tz="Asia/Kolkata")
                raw = await raw_aggregate(session, start, NOW, "Asia/Kolkata")
                await session.rollback()
            got = {
                (r.window_start, r.client_id, r.meter, tuple(sorted(r.dimensions.items()))): (
                    r.quantity,
                    r.provider_cost,
                    r.event_count,
                )
                for r in rows
            }
            assert got == raw
            checks += 1

    readers = [asyncio.create_task(reader()) for _ in range(2)]
    folding = asyncio.create_task(compactor())
    await asyncio.gather(*(sender(c) for c in chunks))
    stop.set()
    await asyncio.gather(*readers, folding)
    assert checks >= 10
    assert folded > 0  # the compactor really ran alongside
    await compact_all(sessionmaker)
    got = await api_usage(
        mclient, metered, **{"from": start.isoformat(), "to": NOW.isoformat(), "window": "day", "tz": "Asia/Kolkata"}
    )
    assert got == oracle(events, metered.meters, start=start, end=NOW, window="day", zone=ZoneInfo("Asia/Kolkata"))


RAW_SQL = """
WITH ev AS (
  SELECT greatest(:lo, (date_trunc('day', e.time AT TIME ZONE :tz) AT TIME ZONE :tz)) AS w, e.client_id, m.key,
         m.aggregation AS agg, e.data #>> m.site_path AS site,
         CASE WHEN m.dim_names[1] IS NOT NULL THEN e.data #>> m.dim1_path END AS d1,
         m.dim_names[1] AS n1,
         e.data #>> m.value_path AS v, (e.data #>> m.provider_cost_path)::numeric AS cost,
         e.time, e.source, e.event_id
  FROM usage_events e, unnest(e.meter_ids) mid, meters m
  WHERE m.id = mid AND e.time >= :lo AND e.time < :hi
)
SELECT w, client_id, key, agg, site, n1, d1, count(*) AS n,
       sum(v::numeric) FILTER (WHERE agg = 'sum') AS s, max(v::numeric) FILTER (WHERE agg = 'max') AS mx,
       count(DISTINCT v) AS u, sum(cost) AS c,
       (array_agg(v ORDER BY time DESC, source COLLATE "C" DESC, event_id COLLATE "C" DESC))[1] AS latest
FROM ev GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


async def raw_aggregate(session, lo: datetime, hi: datetime, tz: str) -> dict:
    """An independent, deliberately naive aggregation straight from usage_events (no rollups)."""
    out = {}
    for r in (await session.execute(text(RAW_SQL), {"lo": lo, "hi": hi, "tz": tz})).all():
        dims = {}
        if r.site is not None:
            dims["site"] = r.site
        if r.d1 is not None:
            dims[r.n1] = r.d1
        quantity = {"sum": r.s, "count": Decimal(r.n), "max": r.mx, "unique_count": Decimal(r.u)}.get(r.agg)
        if r.agg == "latest":
            quantity = Decimal(r.latest)
        out[(r.w, r.client_id, r.key, tuple(sorted(dims.items())))] = (quantity, r.c, r.n)
    return out


# ---- period_usage: the billing interface ------------------------------------------------------------------------


async def test_period_usage_matches_the_oracle_for_one_client(metered, scenario, sessionmaker) -> None:
    lo, hi = scenario["month"], scenario["hi"]
    async with tenant_session(sessionmaker, metered.org.id) as session:
        rows = await period_usage(session, uuid.UUID(metered.clients["acme"]), lo, hi)
        only_docs = await period_usage(session, uuid.UUID(metered.clients["acme"]), lo, hi, meters=["documents"])
    got = {
        (lo, "acme", r.meter, tuple(sorted(r.dimensions.items()))): (r.quantity, r.provider_cost, r.event_count)
        for r in rows
    }
    assert got == oracle(scenario["events"], metered.meters, start=lo, end=hi, subject="acme")
    assert {r.meter for r in only_docs} == {"documents"}
    assert all("site" in r.dimensions for r in rows)


async def test_as_of_replays_what_an_invoice_saw_and_the_delta_is_exact(mclient, metered, sessionmaker) -> None:
    client = uuid.UUID(metered.clients["acme"])
    lo, hi = NOW - timedelta(days=10), NOW
    first = [event(time=NOW - timedelta(days=3, hours=i)) for i in range(5)]
    seats = [event(type="seats.snapshot", time=NOW - timedelta(days=4), data={"site": "berlin", "seats": 5})]
    await post_batch(mclient, metered, first + seats)
    async with tenant_session(sessionmaker, metered.org.id) as session:
        token = await usage_snapshot(session)
        billed = await period_usage(session, client, lo, hi)
    later = [
        event(time=NOW - timedelta(days=5)),
        event(
            time=NOW - timedelta(days=2),
            data={"site": "paris", "model": "x", "tokens": 7, "context": 500_000, "user": "new"},
        ),
    ]
    later_seats = [event(type="seats.snapshot", time=NOW - timedelta(days=2), data={"site": "berlin", "seats": 3})]
    await post_batch(mclient, metered, later + later_seats)
    await compact_all(sessionmaker)
    async with tenant_session(sessionmaker, metered.org.id) as session:
        replay = await period_usage(session, client, lo, hi, as_of=token)
        now_rows = await period_usage(session, client, lo, hi)
        delta = await late_usage_delta(session, client, lo, hi, billed_as_of=token)
    assert replay == billed
    by = {(d.meter, tuple(sorted(d.dimensions.items()))): d for d in delta}
    now_by = {(r.meter, tuple(sorted(r.dimensions.items()))): r.quantity for r in now_rows}
    billed_by = {(r.meter, tuple(sorted(r.dimensions.items()))): r.quantity for r in billed}
    for key, quantity in now_by.items():
        assert billed_by.get(key, Decimal(0)) + (by[key].quantity if key in by else Decimal(0)) == quantity
    # latest went down from 5 to 3: a negative delta, exact all the same
    assert by[("seats", (("site", "berlin"),))].quantity == Decimal(-2)


async def test_late_events_split_exactly_into_billed_and_late(mclient, metered, sessionmaker) -> None:
    client = uuid.UUID(metered.clients["acme"])
    start = (NOW - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=30)
    on_time = [
        event(
            time=start + timedelta(days=d),
            data={"site": "berlin", "model": "m", "tokens": 10 + d, "context": 1, "user": "a"},
        )
        for d in range(5)
    ]
    await post_batch(mclient, metered, on_time)
    async with tenant_session(sessionmaker, metered.org.id) as session:
        await lock_period(
            session,
            org_id=metered.org.id,
            client_id=client,
            period="P",
            period_start=start,
            period_end=end,
            invoice_id=None,
        )
    late = [
        event(
            time=start + timedelta(days=d, hours=3),
            data={"site": "berlin", "model": "m", "tokens": 100 * d, "context": 1, "user": "b"},
        )
        for d in range(1, 4)
    ]
    result = await post_batch(mclient, metered, late)
    assert result["late"] == 3
    async with tenant_session(sessionmaker, metered.org.id) as session:
        billed = await period_usage(session, client, start, end, meters=["tokens"], exclude_late=True)
        only_late = await period_usage(session, client, start, end, meters=["tokens"], only_late=True)
        everything = await period_usage(session, client, start, end, meters=["tokens"])
    assert [r.quantity for r in billed] == [sum(Decimal(10 + d) for d in range(5))]
    assert [r.quantity for r in only_late] == [Decimal(600)]
    assert [r.quantity for r in everything] == [billed[0].quantity + only_late[0].quantity]


async def test_a_lock_waits_for_inflight_ingest_so_no_event_escapes_the_late_flag(
    mclient, metered, sessionmaker
) -> None:
    """Ingest holds the org's advisory lock shared; locking a period takes it exclusively."""
    client = uuid.UUID(metered.clients["acme"])
    start = (NOW - timedelta(days=50)).replace(hour=0, minute=0, second=0, microsecond=0)
    async with sessionmaker() as ingest_tx, ingest_tx.begin():
        await set_tenant(ingest_tx, metered.org.id)
        await ingest_tx.execute(
            text("SELECT pg_advisory_xact_lock_shared(1835365477, hashtext(:o))"), {"o": str(metered.org.id)}
        )

        async def lock() -> None:
            async with tenant_session(sessionmaker, metered.org.id) as session:
                await lock_period(
                    session,
                    org_id=metered.org.id,
                    client_id=client,
                    period="Q",
                    period_start=start,
                    period_end=start + timedelta(days=10),
                    invoice_id=None,
                )

        locking = asyncio.create_task(lock())
        await asyncio.sleep(0.3)
        assert not locking.done()  # blocked behind the in-flight ingest transaction
    await asyncio.wait_for(locking, 5)


# ---- isolation, viewers, parameters --------------------------------------------------------------------------------


async def test_usage_is_isolated_between_orgs_and_viewers_see_their_client_only(
    mclient, metered, other_org, scenario
) -> None:
    params = {"from": scenario["lo"].isoformat(), "to": scenario["hi"].isoformat()}
    theirs = await mclient.get("/v1/usage", params=params, headers=other_org.headers())
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    other_client = await mclient.get(
        "/v1/usage", params={**params, "client": metered.clients["acme"]}, headers=other_org.headers()
    )
    assert other_client.status_code == 404
    # The fixture org's viewer key is scoped to its "viewer-client", which has no usage.
    viewer = metered.org.headers(Role.CLIENT_VIEWER)
    seen = await mclient.get("/v1/usage", params=params, headers=viewer)
    assert seen.status_code == 200 and seen.json()["items"] == []
    forbidden = await mclient.get("/v1/usage", params={**params, "client": metered.clients["acme"]}, headers=viewer)
    assert forbidden.status_code == 404


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "window": "week"}, "window"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "tz": "Mars/Base"}, "tz"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "meter": "nope"}, "meter"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "group_by": "colour"}, "group_by"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", "window": "hour"}, "window"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(mclient, metered, params, parameter) -> None:
    response = await mclient.get("/v1/usage", params=params, headers=metered.headers())
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["parameter"] == parameter


async def test_usage_reads_are_audited(mclient, metered, sessionmaker) -> None:
    await mclient.get("/v1/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", headers=metered.headers())
    async with tenant_session(sessionmaker, metered.org.id) as session:
        actions = (await session.execute(text("SELECT action FROM audit_log WHERE action = 'usage.read'"))).all()
    assert len(actions) == 1
