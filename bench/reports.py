"""Benchmark: the profitability report over a year of an agency's time, against a naive baseline.

What runs (one invocation, one PostgreSQL):

1. PostgreSQL: ``AGENCYFLOW_DATABASE_URL`` (an admin URL; a fresh database is created and dropped) or an
   embedded server in a temporary directory.
2. Seed (bulk COPY as the admin): one org, 40 clients (USD) with 5 projects each = 200 projects, 50 people
   in 5 job roles, a rate card snapshot on every entry, and for 2026 every working day each person logs
   ``PER_DAY`` entries on random projects (19 a day -> 50 x 261 x 19 = 247,950 entries; ``--quick``: 2 a
   day -> 26,100), 2,000 expenses, and January-June locked for every client (locks without invoices: the
   time stays WIP, since only an approved invoice's billing makes time invoiced; expenses there are not WIP).
3. Report (timed): ``persistence.reports.profitability.profitability_report`` for 2026-01-01..2026-12-31,
   per project — what ``GET /v1/reports/profitability`` runs — through the app role under row-level
   security; one warm-up, then the median of ``RUNS`` runs. Per client is timed too.
4. Baseline (timed, same run): the naive way — load every entry and expense of the year into Python
   (one row each) and sum with Decimals, then the same ``insights`` formulas.
5. Exactness: the two reports must be equal row for row (every figure, rounded).

    python bench/reports.py            # ~250,000 entries
    python bench/reports.py --quick    # ~26,000 entries, well under a minute

The last line is ``RESULT report_s=… baseline_s=… speedup=… exact=true|false entries=… load=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import text

from core.ids import new_id
from core.runtime.postgres import EmbeddedPostgres, free_port
from core.settings import app_url_for, to_plain_url, with_database
from insights import profitability
from insights.money import SIXTY, add_to
from persistence.reports.profitability import empty_figures

CLIENTS = 40
PROJECTS_PER_CLIENT = 5
PEOPLE = 50
ROLES = {
    "developer": ("55", "140"),
    "designer": ("45", "110"),
    "ml_engineer": ("70", "180"),
    "pm": ("60", "130"),
    "data_engineer": ("58", "150"),
}
YEAR = 2026
EXPENSES = 2_000
RUNS = 5


def working_days(year: int) -> list[date]:
    day, out = date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


async def seed(admin_url: str, per_day: int) -> tuple[uuid.UUID, int]:
    rng = random.Random(8)
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        org_id = new_id()
        await conn.execute(
            "INSERT INTO orgs (id, name, slug, default_currency, timezone) VALUES ($1, 'Bench', $2, 'USD', 'UTC')",
            org_id,
            f"bench-{org_id.hex[-8:]}",
        )
        clients = [(new_id(), f"Client {i:02d}") for i in range(CLIENTS)]
        await conn.copy_records_to_table(
            "clients",
            records=[(c, org_id, name, f"c{i}", "USD", "Europe/Berlin") for i, (c, name) in enumerate(clients)],
            columns=["id", "org_id", "name", "external_key", "currency", "timezone"],
        )
        projects = [(new_id(), c) for c, _ in clients for _ in range(PROJECTS_PER_CLIENT)]
        await conn.copy_records_to_table(
            "projects",
            records=[(p, org_id, c, f"P{i:03d}", f"Project {i}", "t_and_m") for i, (p, c) in enumerate(projects)],
            columns=["id", "org_id", "client_id", "code", "name", "billing_mode"],
        )
        roles = list(ROLES)
        people = [(new_id(), roles[i % len(roles)]) for i in range(PEOPLE)]
        await conn.copy_records_to_table(
            "people",
            records=[
                (p, org_id, f"Person {i}", f"p{i}@bench.example", role, Decimal(ROLES[role][0]), "USD", Decimal(40))
                for i, (p, role) in enumerate(people)
            ],
            columns=["id", "org_id", "name", "email", "role", "cost_rate", "cost_currency", "weekly_capacity_hours"],
        )
        entries = []
        minutes_choices = [Decimal(m) for m in (15, 20, 30, 45, 50, 60, 75, 90)]
        for day in working_days(YEAR):
            for person, role in people:
                for _ in range(per_day):
                    project, _client = projects[rng.randrange(len(projects))]
                    billable = rng.random() < 0.85
                    entries.append(
                        (
                            new_id(),
                            org_id,
                            person,
                            project,
                            role,
                            day,
                            rng.choice(minutes_choices),
                            billable,
                            "approved" if day.month < 10 else "draft",
                            Decimal(ROLES[role][0]),
                            "USD",
                            Decimal(ROLES[role][1]),
                            "USD",
                        )
                    )
        await conn.copy_records_to_table(
            "time_entries",
            records=entries,
            columns=[
                "id",
                "org_id",
                "person_id",
                "project_id",
                "role",
                "work_date",
                "minutes",
                "billable",
                "status",
                "cost_rate",
                "cost_currency",
                "bill_rate",
                "bill_currency",
            ],
        )
        days = working_days(YEAR)
        expenses = []
        for _ in range(EXPENSES):
            amount = Decimal(rng.randrange(500, 50_000)) / 100
            billable = rng.random() < 0.5
            expenses.append(
                (
                    new_id(),
                    org_id,
                    projects[rng.randrange(len(projects))][0],
                    people[rng.randrange(PEOPLE)][0],
                    rng.choice(days),
                    "travel",
                    "bench",
                    amount,
                    "USD",
                    billable,
                    Decimal("0.1"),
                    (amount * Decimal("1.1")).quantize(Decimal("0.01")) if billable else Decimal(0),
                    rng.choice(("submitted", "approved", "approved", "rejected")),
                )
            )
        await conn.copy_records_to_table(
            "expenses",
            records=expenses,
            columns=[
                "id",
                "org_id",
                "project_id",
                "person_id",
                "spent_on",
                "category",
                "description",
                "amount",
                "currency",
                "billable",
                "markup",
                "billable_amount",
                "status",
            ],
        )
        locks = []
        for client, _ in clients:
            for month in range(1, 7):
                start = datetime(YEAR, month, 1, tzinfo=UTC) - timedelta(hours=1)  # Berlin midnight in winter
                end = datetime(YEAR, month + 1, 1, tzinfo=UTC) - timedelta(hours=1 if month + 1 < 4 else 2)
                locks.append((new_id(), org_id, client, f"{YEAR}-{month:02d}", start, end))
        await conn.copy_records_to_table(
            "billing_period_locks",
            records=locks,
            columns=["id", "org_id", "client_id", "period", "period_start", "period_end"],
        )
        await conn.execute("VACUUM ANALYZE")  # steady state: no autovacuum racing the timed runs
        return org_id, len(entries)
    finally:
        await conn.close()


NAIVE_TIME = text(
    """
    SELECT e.id, e.project_id, e.work_date, e.minutes, e.billable, e.cost_rate, e.cost_currency, e.bill_rate,
           e.bill_currency, p.client_id
    FROM time_entries e JOIN projects p ON p.id = e.project_id
    WHERE e.work_date >= :start AND e.work_date <= :end
    """
)
NAIVE_EXPENSES = text(
    """
    SELECT x.project_id, x.spent_on, x.amount, x.currency, x.billable, x.billable_amount, x.status, p.client_id
    FROM expenses x JOIN projects p ON p.id = x.project_id
    WHERE x.spent_on >= :start AND x.spent_on <= :end
    """
)
# Time is invoiced when an approved invoice billed it (its stored inputs list the entry), whatever the locks.
NAIVE_BILLED = text(
    "SELECT t ->> 'id' AS id FROM invoices i CROSS JOIN LATERAL jsonb_array_elements(i.inputs -> 'time_entries') t "
    "WHERE i.status = 'approved'"
)
NAIVE_LOCKS = text(
    "SELECT l.client_id, l.period_start, l.period_end, c.timezone FROM billing_period_locks l "
    "JOIN clients c ON c.id = l.client_id"
)
NAIVE_META = text(
    "SELECT p.id, p.code, p.name, p.client_id, c.name AS client_name, c.currency "
    "FROM projects p JOIN clients c ON c.id = p.client_id"
)


async def naive_report(session, start: date, end: date) -> list[profitability.ProfitRow]:  # type: ignore[no-untyped-def]
    """Every row into Python, Decimal sums per project; locks checked per row as the API checks one entry."""
    from zoneinfo import ZoneInfo

    locks: dict[uuid.UUID, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for r in (await session.execute(NAIVE_LOCKS)).all():
        locks[r.client_id].append((r.period_start, r.period_end, r.timezone))

    def locked(client_id: uuid.UUID, day: date) -> bool:
        for start_at, end_at, tz in locks.get(client_id, []):
            at = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
            if start_at <= at < end_at:
                return True
        return False

    billed = {r.id for r in (await session.execute(NAIVE_BILLED)).all()}
    acc: dict[uuid.UUID, dict[str, object]] = {}

    def slot(pid: uuid.UUID) -> dict[str, object]:
        return acc.setdefault(pid, empty_figures())

    for r in (await session.execute(NAIVE_TIME, {"start": start, "end": end})).all():
        s = slot(r.project_id)
        s["minutes"] += r.minutes  # type: ignore[operator]
        add_to(s["staff_cost"], r.cost_currency, r.minutes * r.cost_rate / SIXTY)  # type: ignore[arg-type]
        if r.billable:
            s["billable_minutes"] += r.minutes  # type: ignore[operator]
            if r.bill_rate is None:
                s["unpriced_billable_minutes"] += r.minutes  # type: ignore[operator]
            else:
                key = "time_value_locked" if str(r.id) in billed else "time_value_open"
                add_to(s[key], r.bill_currency, r.minutes * r.bill_rate / SIXTY)  # type: ignore[arg-type]
    for r in (await session.execute(NAIVE_EXPENSES, {"start": start, "end": end})).all():
        s = slot(r.project_id)
        if r.status != "rejected":
            add_to(s["expense_cost"], r.currency, r.amount)  # type: ignore[arg-type]
        if r.status == "approved" and r.billable:
            key = "rebill_locked" if locked(r.client_id, r.spent_on) else "rebill_open"
            add_to(s[key], r.currency, r.billable_amount)  # type: ignore[arg-type]
    figures = [
        profitability.ProjectFigures(
            project_id=m.id,
            project_code=m.code,
            project_name=m.name,
            client_id=m.client_id,
            client_name=m.client_name,
            currency=m.currency,
            **acc[m.id],  # type: ignore[arg-type]
        )
        for m in (await session.execute(NAIVE_META)).all()
        if m.id in acc
    ]
    # Same rule as the report: time in a period an approved invoice has locked is invoiced revenue (from the
    # invoices table, empty in this data set), never WIP.
    return profitability.project_rows(figures, invoiced_available=True)


async def measure(app_url: str, org_id: uuid.UUID, runs: int) -> tuple[list[float], list[float], float, bool, int]:
    from persistence.db import make_engine, make_sessionmaker, tenant_session
    from persistence.reports.profitability import profitability_report

    engine = make_engine(app_url, pool_size=2, max_overflow=0)
    sessions = make_sessionmaker(engine)
    start, end = date(YEAR, 1, 1), date(YEAR, 12, 31)
    try:
        async with tenant_session(sessions, org_id) as session:  # warm-up (plans, caches)
            report = await profitability_report(session, start, end)
        per_project, per_client = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            async with tenant_session(sessions, org_id) as session:
                report = await profitability_report(session, start, end)
            per_project.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            async with tenant_session(sessions, org_id) as session:
                await profitability_report(session, start, end, group_by="client")
            per_client.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        async with tenant_session(sessions, org_id) as session:
            naive = await naive_report(session, start, end)
        baseline = time.perf_counter() - t0
        exact = naive == report.rows
        return per_project, per_client, baseline, exact, len(report.rows)
    finally:
        await engine.dispose()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~26,000 entries instead of ~250,000")
    args = parser.parse_args()
    per_day = 2 if args.quick else 19
    runs = 3 if args.quick else RUNS

    from persistence import migrate
    from persistence.bootstrap import drop_database, ensure_database

    tmp = Path(tempfile.mkdtemp(prefix="af-bench-reports-"))
    server = None
    configured = os.environ.get("AGENCYFLOW_DATABASE_URL")
    if configured:
        server_url = with_database(configured, "postgres")
    else:
        server = EmbeddedPostgres(tmp / "pg", free_port())
        server_url = server.start()
    name = f"af_bench_{uuid.uuid4().hex[:8]}"
    admin_url = with_database(server_url, name)
    try:
        await ensure_database(admin_url, name)
        await asyncio.to_thread(migrate.upgrade, admin_url)
        t0 = time.perf_counter()
        org_id, entries = await seed(admin_url, per_day)
        print(
            f"seeded {entries:,} time entries, {EXPENSES:,} expenses, {CLIENTS * PROJECTS_PER_CLIENT} projects, "
            f"{PEOPLE} people, H1 locked, in {time.perf_counter() - t0:.1f} s; load before: {load()}"
        )
        per_project, per_client, baseline, exact, rows = await measure(app_url_for(admin_url), org_id, runs)
        report_s = statistics.median(per_project)
        print(f"report per project: median {report_s:.3f} s of {runs} runs {[round(t, 3) for t in per_project]}")
        print(f"report per client:  median {statistics.median(per_client):.3f} s")
        print(f"baseline (rows into Python, Decimal sums): {baseline:.3f} s; rows {rows}; exact={str(exact).lower()}")
        print(
            f"RESULT report_s={report_s:.3f} baseline_s={baseline:.3f} speedup={baseline / report_s:.1f} "
            f"exact={str(exact).lower()} entries={entries} rows={rows} load={load()}"
        )
    finally:
        try:
            await drop_database(server_url, name)
        finally:
            if server is not None:
                server.destroy()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
