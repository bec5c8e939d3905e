"""PostgreSQL SIGKILLed for 15 s under ingest load: 503 + Retry-After only, nothing acknowledged is lost, and
the same API process serves again once the server is back, without a restart.

A private embedded PostgreSQL (durable settings: fsync and synchronous commit on, as in production) so
killing it harms no other test. Before the fix the outage answered 500 without Retry-After.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from core.runtime.postgres import EmbeddedPostgres, free_port
from core.settings import app_url_for, load_settings
from persistence.db import database_unavailable, make_engine, make_sessionmaker
from tests import orphans
from tests.conftest import asgi_client, create_migrated_database, make_org
from tests.metering.conftest import BATCH, STANDARD_METERS, MeteredOrg, add_client, add_meter

OUTAGE_S = 15.0
WORKERS = 6
BATCH_SIZE = 5
_encoder = msgspec.json.Encoder()


def sigkill_server(server: EmbeddedPostgres) -> int:
    """SIGKILL the postmaster and every backend it started: a crash, not a shutdown."""
    pid = server.running_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(processes, timeout=10)
    return len(processes)


@pytest.fixture
def private_postgres():  # type: ignore[no-untyped-def]
    root = orphans.new_postgres_root()
    server = EmbeddedPostgres(root / "pg", free_port())
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


def batch(run: str, counter: int) -> list[dict[str, object]]:
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return [
        {
            "specversion": "1.0",
            "id": f"{run}-{counter}-{i}",
            "source": "outage-test",
            "type": "ai.tokens",
            "subject": "acme",
            "time": when,
            "data": {"site": "berlin", "model": "m", "tokens": 1, "context": 1, "user": "u"},
        }
        for i in range(BATCH_SIZE)
    ]


async def test_postgres_killed_under_ingest_answers_503_loses_nothing_and_recovers(private_postgres) -> None:
    admin_url = await create_migrated_database(private_postgres.url, "af_outage")
    app_url = app_url_for(admin_url)
    engine = make_engine(app_url, pool_size=2, max_overflow=0)
    org = MeteredOrg(org=await make_org(make_sessionmaker(engine), "Outage org"))
    await engine.dispose()
    settings = msgspec.structs.replace(
        load_settings(), temporal_address="127.0.0.1:1", events_rate_per_s=1e9, events_burst=10**9
    )
    app = create_app(settings, database_url=app_url)
    statuses: Counter[int] = Counter()
    missing_retry_after = 0
    acknowledged: set[str] = set()
    phase = {"name": "before"}
    served_after_restart = asyncio.Event()
    stop = asyncio.Event()
    run = uuid.uuid4().hex[:8]

    async with asgi_client(app) as http:
        await add_client(http, org, "acme", sites=["berlin"])
        await add_meter(http, org, **STANDARD_METERS[0])
        headers = org.headers(**{"Content-Type": BATCH})

        async def produce(worker: int) -> None:
            nonlocal missing_retry_after
            counter = 0
            while not stop.is_set():
                counter += 1
                events = batch(f"{run}-{worker}", counter)
                # Like a well-behaved client, resend the same batch until it is acknowledged: a batch whose
                # commit raced the kill comes back as duplicates, never twice.
                while not stop.is_set():
                    response = await http.post("/v1/events", content=_encoder.encode(events), headers=headers)
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        results = response.json()["results"]
                        assert {r["status"] for r in results} <= {"accepted", "duplicate"}, results
                        acknowledged.update(e["id"] for e in events)
                        if phase["name"] == "restarted":
                            served_after_restart.set()
                        break
                    if response.headers.get("retry-after") is None:
                        missing_retry_after += 1
                    await asyncio.sleep(0.1)

        producers = [asyncio.create_task(produce(w)) for w in range(WORKERS)]
        await asyncio.sleep(2.0)
        before = len(acknowledged)
        killed = sigkill_server(private_postgres)
        phase["name"] = "down"
        await asyncio.sleep(OUTAGE_S / 2)
        read_while_down = await http.get("/v1/meters", headers=org.headers())
        await asyncio.sleep(OUTAGE_S / 2)
        during = Counter(statuses)
        await asyncio.to_thread(private_postgres.start)
        restarted_at = time.monotonic()
        phase["name"] = "restarted"
        await asyncio.wait_for(served_after_restart.wait(), 30)
        recovery_s = time.monotonic() - restarted_at
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*producers)
        reads = await http.get("/v1/meters", headers=org.headers())

    assert killed >= 2 and before > 0
    assert during[503] > 0, during  # the outage was seen, and answered as unavailable
    assert set(statuses) <= {200, 503}, statuses  # not one 500 (nor anything else)
    assert missing_retry_after == 0
    assert read_while_down.status_code == 503
    assert read_while_down.headers["retry-after"] == "2"
    assert read_while_down.headers["content-type"] == "application/problem+json"
    assert recovery_s < 10, recovery_s  # the same app, the same pool: no restart needed
    assert reads.status_code == 200

    engine = make_engine(admin_url, pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        stored = set(
            (
                await conn.execute(
                    text("SELECT event_id FROM usage_events WHERE source = 'outage-test' AND event_id LIKE :run"),
                    {"run": f"{run}-%"},
                )
            ).scalars()
        )
    await engine.dispose()
    assert acknowledged - stored == set()
    assert len(acknowledged) > before


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (asyncpg.exceptions.IdleInTransactionSessionTimeoutError("terminating connection due to idle"), True),
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (OSError(errno.ECONNREFUSED, "Connection refused"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), False),
        (OSError(errno.ENOENT, "No such file"), False),
        (ValueError("bad"), False),
    ],
)
def test_what_counts_as_the_database_being_unavailable(error: BaseException, unavailable: bool) -> None:
    """Raw, and wrapped the way SQLAlchemy's asyncpg dialect wraps it (the driver's error as the cause)."""
    assert database_unavailable(error) is unavailable
    adapted = Exception("adapted")
    adapted.__cause__ = error
    assert database_unavailable(DBAPIError("SELECT 1", {}, adapted)) is unavailable
