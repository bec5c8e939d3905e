"""Benchmark: CloudEvents ingest over HTTP with dedupe, against a baseline bulk insert, plus the month query.

What runs (all in one invocation, against one PostgreSQL):

1. PostgreSQL: ``AGENCYFLOW_DATABASE_URL`` (an admin URL; a fresh database is created and dropped) or an
   embedded server in a temporary directory (durable settings: fsync and synchronous_commit on).
2. Seed: one org, 1,000 clients x 20 sites, a ``tokens`` meter (sum of ``data.tokens``, provider cost from
   ``data.cost``, grouped by ``model`` and site), an owner API key with ``events:write``.
3. Events: N CloudEvents for the previous calendar month; every 10th slot repeats an earlier event exactly
   (same id and body: in the same batch, across batches and across senders), so 10 % are duplicates.
   Batches of 1,000, pre-encoded by the senders before the clock starts.
4. Baseline (timed per statement): the same rows, same batches, written by one process with
   ``INSERT INTO bench_baseline SELECT FROM unnest(...) ON CONFLICT DO NOTHING``; ``bench_baseline`` is a
   copy of ``usage_events`` (same columns and indexes) plus the unique key (org, source, id) the conflict
   needs (not partitioned, since a unique key on a partitioned table must contain the partition key).
5. Ingest: the real API (``agencyflow api`` in a subprocess: uvicorn, uvloop, httptools, one process) and 8
   sender processes (httpx, one connection each), released together; wall clock from release to the last
   response. The API's RSS is sampled every 100 ms.
6. Exactness: every batch's per-index results, the stored unique events, the dedupe keys, and the usage
   totals per client from ``GET /v1/usage`` are compared with what the generator produced.
7. Month query: fold everything into the rollups, then ``GET /v1/usage`` for the month, all clients, every
   dimension. Full mode first bulk-loads events directly in SQL up to 10,000,000 events in the month;
   quick mode queries the events it ingested (and says so).

    python bench/ingest.py            # 2,000,000 events over HTTP + 10,000,000-event month query
    python bench/ingest.py --quick    # 200,000 events, under a minute

The last line is ``RESULT events_per_s=… ratio=… exact=true|false rss_mb=…`` (+ more keys).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
import msgspec
import psutil

from core.permissions import Scope
from core.runtime.postgres import EmbeddedPostgres, free_port
from core.settings import app_url_for, to_plain_url, with_database

CLIENTS = 1_000
SITES = 20
MODELS = ("gpt-small", "gpt-large", "embed")
BATCH = 1_000
SENDERS = 8
DUP_EVERY = 10  # every 10th slot is a duplicate
MONTH_EVENTS_FULL = 10_000_000
EVENT_TYPE = "ai.tokens"
MASK = (1 << 64) - 1


# ---- the deterministic generator ------------------------------------------------------------------------------


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash, so every process derives the same event from its index."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class Month:
    start: datetime
    end: datetime

    @classmethod
    def previous(cls) -> Month:
        first = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        prev = (first - timedelta(days=1)).replace(day=1)
        return cls(prev, first)


def unique_event(u: int, month: Month) -> tuple[int, int, str, int, Decimal, datetime, str]:
    """(client, site, model, tokens, cost, time, id) of unique event ``u``."""
    h = _mix(u)
    client = h % CLIENTS
    site = (h >> 10) % SITES
    model = MODELS[(h >> 15) % len(MODELS)]
    tokens = 1 + (h >> 17) % 4000
    cost = Decimal(tokens) * Decimal("0.0000025")
    span = int((month.end - month.start).total_seconds() * 1_000_000)
    at = month.start + timedelta(microseconds=(h >> 29) % span)
    return client, site, model, tokens, cost, at, f"evt-{u:012d}"


def slot_unique(s: int) -> int:
    """Which unique event slot ``s`` carries: fresh ones in order, every 10th slot an earlier one."""
    fresh_before = s - s // DUP_EVERY  # slots 9, 19, 29, ... are the duplicates
    if (s + 1) % DUP_EVERY:
        return fresh_before
    earlier = fresh_before  # uniques 0..earlier-1 were carried by earlier slots
    h = _mix(s ^ 0x5DEECE66D)
    if h % 5 == 0:  # one in five duplicates repeats an event of the same batch
        lo = (s // BATCH) * BATCH
        lo_u = lo - lo // DUP_EVERY
        return lo_u + h % max(1, earlier - lo_u) if earlier > lo_u else h % max(1, earlier)
    return h % max(1, earlier)


def event_json(u: int, month: Month) -> bytes:
    client, site, model, tokens, cost, at, eid = unique_event(u, month)
    return (
        b'{"specversion":"1.0","id":"'
        + eid.encode()
        + b'","source":"bench/app-'
        + str(u % 7).encode()
        + b'","type":"'
        + EVENT_TYPE.encode()
        + b'","subject":"client-'
        + f"{client:04d}".encode()
        + b'","time":"'
        + at.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        + b'","data":{"site":"site-'
        + f"{site:02d}".encode()
        + b'","model":"'
        + model.encode()
        + b'","tokens":'
        + str(tokens).encode()
        + b',"cost":'
        + str(cost).encode()
        + b"}}"
    )


def batch_body(b: int, total: int, month: Month) -> bytes:
    lo, hi = b * BATCH, min(total, (b + 1) * BATCH)
    return b"[" + b",".join(event_json(slot_unique(s), month) for s in range(lo, hi)) + b"]"


# ---- senders ------------------------------------------------------------------------------------------------


def sender(index: int, url: str, token: str, total: int, month: Month, ready: Any, go: Any, out: Any) -> None:
    batches = range(index, (total + BATCH - 1) // BATCH, SENDERS)
    bodies = [(b, batch_body(b, total, month)) for b in batches]
    results: dict[int, list[str]] = {}
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents-batch+json"}
    with httpx.Client(base_url=url, timeout=120, http2=False) as client:
        client.get("/healthz")
        ready.release()
        go.wait()
        cpu0 = time.process_time()
        for b, body in bodies:
            for attempt in range(20):
                response = client.post("/v1/events", content=body, headers=headers)
                if response.status_code == 200:
                    break
                if response.status_code in (429, 503) or (response.status_code == 409 and attempt < 19):
                    time.sleep(0.05)
                    continue
                errors.append(f"batch {b}: {response.status_code} {response.text[:300]}")
                break
            else:
                errors.append(f"batch {b}: gave up")
                continue
            if response.status_code == 200:
                payload = msgspec.json.decode(response.content)
                results[b] = [r["status"] for r in payload["results"]]
        cpu = time.process_time() - cpu0
    out.put((index, results, errors, cpu))


# ---- database -----------------------------------------------------------------------------------------------


async def seed(app_url: str) -> tuple[uuid.UUID, str, uuid.UUID]:
    from core.api_keys import generate
    from core.ids import new_id

    org_id = new_id()
    conn = await asyncpg.connect(to_plain_url(app_url))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            await conn.execute(
                "INSERT INTO orgs (id, name, slug, default_currency, timezone) VALUES ($1, 'Bench', $2, 'USD', 'UTC')",
                org_id,
                f"bench-{org_id.hex[-8:]}",
            )
            client_ids = [new_id() for _ in range(CLIENTS)]
            await conn.execute(
                "INSERT INTO clients (id, org_id, name, external_key, currency, timezone) "
                "SELECT id, $1, key, key, 'USD', 'UTC' FROM unnest($2::uuid[], $3::text[]) AS t(id, key)",
                org_id,
                client_ids,
                [f"client-{i:04d}" for i in range(CLIENTS)],
            )
            site_rows = [(new_id(), cid, f"site-{s:02d}") for cid in client_ids for s in range(SITES)]
            await conn.execute(
                "INSERT INTO sites (id, org_id, client_id, code, name) "
                "SELECT id, $1, c, code, code FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS t(id, c, code)",
                org_id,
                [r[0] for r in site_rows],
                [r[1] for r in site_rows],
                [r[2] for r in site_rows],
            )
            meter_id = new_id()
            await conn.execute(
                "INSERT INTO meters (id, org_id, key, name, event_type, aggregation, value_path, provider_cost_path, "
                "site_path, dim_names, dim1_path, unit) VALUES ($1, $2, 'tokens', 'Tokens', $3, 'sum', '{tokens}', "
                "'{cost}', '{site}', '{model}', '{model}', 'tokens')",
                meter_id,
                org_id,
                EVENT_TYPE,
            )
            key = generate(org_id)
            await conn.execute(
                "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, role, scopes) "
                "VALUES ($1, $2, 'bench', $3, $4, 'owner', $5)",
                new_id(),
                org_id,
                key.prefix,
                key.secret_hash,
                [s.value for s in Scope],
            )
    finally:
        await conn.close()
    return org_id, key.token, meter_id


BASELINE_SQL = """
INSERT INTO bench_baseline
  (org_id, time, batch_id, pos, client_id, type, source, event_id, subject, meter_ids, late, unmatched, data)
SELECT $1, t.time, $2, t.pos, t.client_id, $3, t.source, t.event_id, t.subject, $4::uuid[], false, NULL, t.data
FROM unnest($5::int[], $6::text[], $7::text[], $8::timestamptz[], $9::uuid[], $10::text[], $11::jsonb[])
  AS t(pos, source, event_id, time, client_id, subject, data)
ON CONFLICT DO NOTHING
"""


async def baseline(admin_url: str, org_id: uuid.UUID, meter_id: uuid.UUID, total: int, month: Month) -> float:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_baseline")
        await conn.execute("CREATE TABLE bench_baseline (LIKE usage_events INCLUDING ALL)")
        await conn.execute("CREATE UNIQUE INDEX ON bench_baseline (org_id, source, event_id)")
        client_ids = {
            r["external_key"]: r["id"]
            for r in await conn.fetch("SELECT id, external_key FROM clients WHERE org_id=$1", org_id)
        }
        await conn.set_type_codec("jsonb", encoder=lambda v: v, decoder=lambda v: v, schema="pg_catalog")
        meters = [meter_id]
        elapsed = 0.0
        for b in range((total + BATCH - 1) // BATCH):
            cols: list[list[Any]] = [[] for _ in range(7)]
            for pos, s in enumerate(range(b * BATCH, min(total, (b + 1) * BATCH))):
                u = slot_unique(s)
                client, site, model, tokens, cost, at, eid = unique_event(u, month)
                cols[0].append(pos)
                cols[1].append(f"bench/app-{u % 7}")
                cols[2].append(eid)
                cols[3].append(at)
                cols[4].append(client_ids[f"client-{client:04d}"])
                cols[5].append(f"client-{client:04d}")
                cols[6].append(f'{{"site":"site-{site:02d}","model":"{model}","tokens":{tokens},"cost":{cost}}}')
            t0 = time.perf_counter()
            await conn.execute(BASELINE_SQL, org_id, b + 1, EVENT_TYPE, meters, *cols)
            elapsed += time.perf_counter() - t0
        stored = await conn.fetchval("SELECT count(*) FROM bench_baseline")
        await conn.execute("DROP TABLE bench_baseline")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    print(f"baseline: {total:,} rows ({stored:,} unique) in {elapsed:.2f} s of statement time")
    return total / elapsed


def expected_totals(total: int, month: Month) -> tuple[int, dict[int, tuple[int, Decimal, int]]]:
    """Unique count and per-client (tokens, cost, events) over the unique events actually sent."""
    uniques = total - total // DUP_EVERY
    per: dict[int, list[Any]] = {}
    for u in range(uniques):
        client, _site, _model, tokens, cost, _at, _eid = unique_event(u, month)
        acc = per.setdefault(client, [0, Decimal(0), 0])
        acc[0] += tokens
        acc[1] += cost
        acc[2] += 1
    return uniques, {c: (v[0], v[1], v[2]) for c, v in per.items()}


async def bulk_load(admin_url: str, org_id: uuid.UUID, meter_id: uuid.UUID, have: int, want: int, month: Month) -> None:
    """Top the month up to ``want`` events directly in SQL (same shape as the HTTP events), as unrolled
    batches of 10,000 events, so the compactor folds them exactly like ingested ones."""
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        span = (month.end - month.start).total_seconds()
        step = 100_000
        for lo in range(have, want, step):
            hi = min(want, lo + step)
            async with conn.transaction():
                await conn.execute(
                    """
                    WITH g AS (
                      SELECT i, abs(hashint8(i)::bigint) AS h1, abs(hashint8(i + 7777777777)::bigint) AS h2
                      FROM generate_series($3::bigint, $4::bigint - 1) AS i
                    ), c AS (SELECT id, external_key FROM clients WHERE org_id = $1),
                    ev AS (
                      SELECT g.i, 'client-' || lpad((g.h1 % 1000)::text, 4, '0') AS subject,
                             'site-' || lpad(((g.h1 / 1000) % 20)::text, 2, '0') AS site,
                             (ARRAY['gpt-small','gpt-large','embed'])[1 + (g.h1 / 20000) % 3] AS model,
                             1 + g.h2 % 4000 AS tokens,
                             $5::timestamptz
                               + make_interval(secs => ((g.i * 104729) % ($6::bigint * 1000)) / 1000.0) AS t
                      FROM g
                    ), b AS (
                      INSERT INTO ingest_batches (id, org_id, event_count, kind)
                      SELECT nextval('ingest_batches_id_seq'), $1, 10000, 'bench'
                      FROM generate_series(0, ($4::bigint - $3::bigint - 1) / 10000)
                      RETURNING id
                    ), bl AS (SELECT array_agg(id ORDER BY id) AS ids FROM b),
                    k AS (
                      INSERT INTO usage_event_keys (org_id, source, event_id)
                      SELECT $1, 'bench/sql', 'sql-' || ev.i FROM ev
                    )
                    INSERT INTO usage_events
                      (org_id, time, batch_id, pos, client_id, type, source, event_id, subject, meter_ids, late, data)
                    SELECT $1, ev.t, bl.ids[1 + (ev.i - $3) / 10000], ((ev.i - $3) % 10000)::int, c.id, $7,
                           'bench/sql', 'sql-' || ev.i, ev.subject, ARRAY[$2::uuid], false,
                           jsonb_build_object('site', ev.site, 'model', ev.model, 'tokens', ev.tokens,
                                              'cost', ev.tokens * 0.0000025)
                    FROM ev JOIN c ON c.external_key = ev.subject CROSS JOIN bl
                    """,
                    org_id,
                    meter_id,
                    lo,
                    hi,
                    month.start,
                    int(span),
                    EVENT_TYPE,
                )
            if (hi - have) % 1_000_000 < step or hi == want:
                print(f"  bulk-loaded {hi - have:,} / {want - have:,} events", flush=True)
    finally:
        await conn.close()


async def compact_everything(app_url: str) -> tuple[int, float]:
    conn = await asyncpg.connect(to_plain_url(app_url))
    events = 0
    t0 = time.perf_counter()
    try:
        while True:
            rows = await conn.fetch("SELECT * FROM af_compact_usage(50)")
            if not rows or rows[0]["batches"] is None:
                break
            events += sum(r["events"] for r in rows)
    finally:
        await conn.close()
    return events, time.perf_counter() - t0


# ---- orchestration --------------------------------------------------------------------------------------------


def _pg_processes(server: EmbeddedPostgres | None) -> list[psutil.Process]:
    """The embedded server's postmaster and backends; for an external server, every local postgres process."""
    if server is not None and (pid := server.running_pid()) is not None:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    out = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] and "postgres" in p.info["name"]:
            out.append(p)
    return out


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in processes:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples; processes born in between count from zero."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def _counts(admin_url: str, org_id: uuid.UUID) -> tuple[int, int, dict[str, int]]:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        stored = await conn.fetchval("SELECT count(*) FROM usage_events WHERE org_id = $1", org_id)
        keys = await conn.fetchval("SELECT count(*) FROM usage_event_keys WHERE org_id = $1", org_id)
        clients = {
            str(r["id"]): int(r["external_key"].split("-")[1])
            for r in await conn.fetch("SELECT id, external_key FROM clients WHERE org_id = $1", org_id)
        }
    finally:
        await conn.close()
    return stored, keys, clients


async def _sql(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _prepare(admin_url: str, name: str) -> tuple[uuid.UUID, str, uuid.UUID]:
    from persistence import migrate
    from persistence.bootstrap import ensure_database

    await ensure_database(admin_url, name)
    await asyncio.to_thread(migrate.upgrade, admin_url)
    return await seed(app_url_for(admin_url))


def _start_api(admin_url: str, tmp: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "AGENCYFLOW_DATABASE_URL": admin_url,
        "AGENCYFLOW_APP_DATABASE_URL": app_url_for(admin_url),
        "AGENCYFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "AGENCYFLOW_HOME": str(tmp / "home"),
        "AGENCYFLOW_EVENTS_RATE_PER_S": "1e12",
        "AGENCYFLOW_EVENTS_BURST": str(10**12),
        "AGENCYFLOW_LOG_LEVEL": "WARNING",
    }
    with open(tmp / "api.log", "wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return api, url


def _month_query(url: str, token: str, month: Month) -> tuple[float, list[float], int]:
    timings = []
    rows = 0
    for _ in range(3):
        t0 = time.perf_counter()
        response = httpx.get(
            url + "/v1/usage",
            params={"from": month.start.isoformat(), "to": month.end.isoformat(), "window": "month", "tz": "UTC"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        timings.append(time.perf_counter() - t0)
        rows = len(response.json()["items"])
    return min(timings), timings, rows


def run(args: argparse.Namespace) -> int:
    from persistence.bootstrap import drop_database

    total = 200_000 if args.quick else args.events
    month = Month.previous()
    print(f"load average before: {_load()}  (cores: {os.cpu_count()})")
    tmp = Path(tempfile.mkdtemp(prefix="af-bench-"))
    server: EmbeddedPostgres | None = None
    configured = os.environ.get("AGENCYFLOW_DATABASE_URL")
    if configured:
        server_url = with_database(configured, "postgres")
    else:
        server = EmbeddedPostgres(tmp / "pg", free_port())
        server_url = server.start()
    name = f"af_bench_{uuid.uuid4().hex[:8]}"
    admin_url = with_database(server_url, name)
    api: subprocess.Popen[bytes] | None = None
    try:
        org_id, token, meter_id = asyncio.run(_prepare(admin_url, name))
        app_url = app_url_for(admin_url)
        print(
            f"seeded {CLIENTS} clients x {SITES} sites; month {month.start:%Y-%m}; {total:,} events, "
            f"{total // DUP_EVERY:,} duplicates, batches of {BATCH}, {SENDERS} senders"
        )

        base_rate = asyncio.run(baseline(admin_url, org_id, meter_id, total, month))
        print(f"baseline: {base_rate:,.0f} rows/s (one process, unnest + ON CONFLICT DO NOTHING)")

        api, url = _start_api(admin_url, tmp, args.api_workers)
        api_proc = psutil.Process(api.pid)

        def api_tree() -> list[psutil.Process]:
            """The API process and, with --api-workers > 1, its worker processes (the supervisor is tiny)."""
            return [api_proc, *api_proc.children(recursive=True)]

        def api_rss() -> int:
            return sum(p.memory_info().rss for p in api_tree())

        ctx = mp.get_context("spawn")
        ready = ctx.Semaphore(0)
        go = ctx.Event()
        out = ctx.Queue()
        procs = [ctx.Process(target=sender, args=(i, url, token, total, month, ready, go, out)) for i in range(SENDERS)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        rss_peak = api_rss()
        stop_sampling = threading.Event()

        def sample() -> None:
            nonlocal rss_peak
            while not stop_sampling.is_set():
                try:
                    rss_peak = max(rss_peak, api_rss())
                except psutil.NoSuchProcess:
                    return
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        api_cpu0, pg_cpu0 = _cpu(api_tree()), _cpu(_pg_processes(server))
        load_before = _load()
        t0 = time.perf_counter()
        go.set()
        collected = [out.get() for _ in procs]
        wall = time.perf_counter() - t0
        api_cpu = _cpu_delta(api_cpu0, _cpu(api_tree()))
        pg_cpu = _cpu_delta(pg_cpu0, _cpu(_pg_processes(server)))
        stop_sampling.set()
        for p in procs:
            p.join()
        sender_cpu = sum(c[3] for c in collected)
        errors = [e for c in collected for e in c[2]]
        statuses: dict[int, list[str]] = {}
        for c in collected:
            statuses.update(c[1])
        rate = total / wall
        cores = os.cpu_count() or 1
        print(
            f"ingest: {total:,} events in {wall:.2f} s = {rate:,.0f} events/s (load during: {load_before} -> {_load()})"
        )
        print(
            f"  CPU seconds: API {api_cpu:.2f} ({100 * api_cpu / wall:.0f}% of a core), PostgreSQL {pg_cpu:.2f} "
            f"({100 * pg_cpu / wall:.0f}% of a core), senders {sender_cpu:.2f} "
            f"= {100 * sender_cpu / (wall * cores):.0f}% of the machine's {cores} cores"
        )
        api_us, pg_us, sender_us = (1e6 * cpu / total for cpu in (api_cpu, pg_cpu, sender_cpu))
        print(f"  CPU per event: API {api_us:.1f} us, PostgreSQL {pg_us:.1f} us, senders {sender_us:.1f} us")
        print(f"  API RSS peak {rss_peak / 2**20:.0f} MB")
        if errors:
            print("  errors:", *errors[:5], sep="\n    ")

        # ---- exactness
        uniques, per_client = expected_totals(total, month)
        accepted = sum(s.count("accepted") for s in statuses.values())
        duplicates = sum(s.count("duplicate") for s in statuses.values())
        stored, keys, clients_by_id = asyncio.run(_counts(admin_url, org_id))
        response = httpx.get(
            url + "/v1/usage",
            params={"from": month.start.isoformat(), "to": month.end.isoformat(), "group_by": "", "meter": "tokens"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        usage = {
            clients_by_id[i["client_id"]]: (int(Decimal(i["quantity"])), Decimal(i["provider_cost"]), i["event_count"])
            for i in response.json()["items"]
        }
        exact = (
            not errors
            and len(statuses) == (total + BATCH - 1) // BATCH
            and accepted == uniques
            and duplicates == total - uniques
            and stored == uniques
            and keys == uniques
            and usage == per_client
        )
        print(
            f"exactness: accepted {accepted:,} / expected {uniques:,}; duplicates {duplicates:,} / "
            f"{total - uniques:,}; stored {stored:,}; keys {keys:,}; usage per client "
            f"{'equal' if usage == per_client else 'DIFFERENT'}"
        )

        # ---- rollups and the month query
        folded, fold_s = asyncio.run(compact_everything(app_url))
        print(f"compaction: {folded:,} events folded in {fold_s:.1f} s ({folded / max(fold_s, 1e-9):,.0f} events/s)")
        month_events = uniques
        if not args.quick:
            asyncio.run(bulk_load(admin_url, org_id, meter_id, uniques, MONTH_EVENTS_FULL, month))
            folded, fold_s = asyncio.run(compact_everything(app_url))
            print(f"compaction: {folded:,} more events in {fold_s:.1f} s ({folded / max(fold_s, 1e-9):,.0f} events/s)")
            month_events = MONTH_EVENTS_FULL
            asyncio.run(_sql(admin_url, "VACUUM ANALYZE"))
        query_s, timings, rows = _month_query(url, token, month)
        note = " (quick mode: only the ingested events)" if args.quick else ""
        print(
            f"month query: {month_events:,} events{note}, {rows:,} rows (client x site x model), "
            f"best of 3 {query_s:.2f} s, runs {', '.join(f'{t:.2f}' for t in timings)}"
        )
        print(f"load average after: {_load()}")
        print(
            f"RESULT events_per_s={rate:.0f} ratio={rate / base_rate:.3f} exact={'true' if exact else 'false'} "
            f"rss_mb={rss_peak / 2**20:.0f} baseline_rows_per_s={base_rate:.0f} month_query_s={query_s:.2f} "
            f"api_cpu_us_per_event={api_us:.2f} pg_cpu_us_per_event={pg_us:.2f} "
            f"month_events={month_events}"
        )
        return 0 if exact else 1
    finally:
        if api is not None:
            api.terminate()
            try:
                api.wait(15)
            except subprocess.TimeoutExpired:
                api.kill()
        try:
            asyncio.run(drop_database(server_url, name))
        except Exception as exc:  # pragma: no cover - best effort cleanup
            print(f"could not drop {name}: {exc}")
        if server is not None:
            server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 events, under a minute")
    parser.add_argument("--api-workers", type=int, default=1, help="API worker processes (RSS and CPU are summed)")
    parser.add_argument("--events", type=int, default=2_000_000, help="events sent over HTTP (full mode)")
    args = parser.parse_args()
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
