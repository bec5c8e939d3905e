"""Month close: N contracts' billing cycles on the Temporal dev server, against the server's own ceiling.

Setup (not timed): a private PostgreSQL (embedded, or AGENCYFLOW_DATABASE_URL) migrated from scratch, a
Temporal dev server started with the WAL pragmas, one org with N clients, each with a contract (retainer +
graduated and cost-plus AI usage per model + a monthly minimum + VAT) and real usage ingested through the
API (CloudEvents batches), and one in-process worker hosting the product's workflows and activities.

Timed, on the same server and worker settings:
  ceiling     N no-op workflows, each running one no-op activity;
  month close N BillingCycleWorkflows for one period: gather (usage, time, state) → rate with the engine in
              the workflow → write the draft invoice → reconcile against the live view → notify finance.
Completion is observed in the database / a counter, never by awaiting N workflow results at once (that
hits the dev server's concurrent-poller limit). Exactness: a sample of invoices is re-rated independently.

  python bench/month_close.py [--contracts 2000] [--quick]
  → RESULT invoices=… invoices_per_s=… ceiling_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import msgspec
from benchlib.month_close_noop import NOOP_ACTIVITY, NoopWorkflow, noop_activity, noop_counter
from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

import billing
from activities.registry import build_activities
from api.app import create_app
from cli.worker import sandbox_runner
from core.ids import new_id
from core.permissions import Role, Scope
from core.runtime.postgres import EmbeddedPostgres, free_port
from core.runtime.temporal import TemporalDevServer
from core.settings import app_url_for, load_settings, with_database
from persistence import migrate
from persistence.api_key_store import issue_key
from persistence.billing_inputs import gather
from persistence.bootstrap import drop_database, ensure_database
from persistence.db import make_engine, make_sessionmaker, tenant_session
from persistence.models import Client as ClientRow
from persistence.models import Contract, Org, Site
from workflows import names
from workflows.converter import DATA_CONVERTER
from workflows.inputs import CycleConfig, CycleInput
from workflows.registry import WORKFLOWS

PERIOD = "2026-10"
EVENT_DAY = "2026-10-15T12:00:00Z"
MODELS = ("gpt-4o", "claude-3-5")
SITES = ("hq", "lab")

TERMS = {
    "start_date": "2026-01-01",
    "default_site": "hq",
    "versions": [
        {
            "effective_from": "2026-01",
            "sites": [{"id": "hq", "name": "Headquarters"}, {"id": "lab", "name": "Lab"}],
            "retainers": [{"id": "base", "description": "Platform fee", "amount": "500.00", "billing": "arrears"}],
            "usage_charges": [
                {
                    "id": "gpt",
                    "meter": "tokens",
                    "description": "GPT tokens",
                    "unit": "tokens",
                    "filter": {"model": "gpt-4o"},
                    "pricing": {
                        "model": "graduated",
                        "tiers": [
                            {"from": 0, "up_to": 100000, "unit_price": "0.00002"},
                            {"from": 100000, "unit_price": "0.000015"},
                        ],
                    },
                },
                {
                    "id": "claude",
                    "meter": "tokens",
                    "description": "Claude tokens at cost plus margin",
                    "unit": "tokens",
                    "filter": {"model": "claude-3-5"},
                    "pricing": {"model": "cost_plus", "margin_percent": "25", "surcharge_per_unit": "0.000001"},
                },
            ],
            "minimums": [
                {"id": "floor", "description": "Monthly minimum", "amount": "650.00", "per_site": True, "scope": {}}
            ],
            "tax": {"rates": [{"id": "vat", "name": "VAT 20%", "percent": "20"}], "default": "vat"},
        }
    ],
}
EVENTS_JSON = msgspec.json.Encoder(decimal_format="number")  # costs travel as exact JSON numbers
FAST = CycleConfig(grace_s=0, remind_after_s=30 * 24 * 3600, escalate_after_s=60 * 24 * 3600)


def log(message: str) -> None:
    print(message, flush=True)


async def seed(app_url: str, settings, contracts: int) -> tuple[uuid.UUID, list[tuple[str, str]]]:
    """One org, ``contracts`` clients with a contract each, and real usage through the ingest API."""
    engine = make_engine(app_url, pool_size=5, max_overflow=5)
    sessionmaker = make_sessionmaker(engine)
    org_id = new_id()
    pairs: list[tuple[str, str]] = []
    async with tenant_session(sessionmaker, org_id) as session:
        session.add(
            Org(id=org_id, name="Bench Agency", slug=f"bench-{org_id.hex[-8:]}", default_currency="USD", timezone="UTC")
        )
        await session.flush()
        _, token = await issue_key(
            session, org_id=org_id, name="bench", role=Role.OWNER.value, scopes=[s.value for s in Scope]
        )
        terms = billing.parse_terms(
            msgspec.json.encode({**TERMS, "contract_id": "x", "currency": "USD", "timezone": "America/New_York"})
        )[0]
        assert terms is not None
        for index in range(contracts):
            client = ClientRow(
                org_id=org_id,
                name=f"Client {index}",
                external_key=f"c{index:05d}",
                currency="USD",
                timezone="America/New_York",
            )
            session.add(client)
            await session.flush()
            for site in SITES:
                session.add(Site(org_id=org_id, client_id=client.id, code=site, name=site.upper()))
            contract_id = uuid.uuid4()
            document = msgspec.json.decode(
                billing.encode(
                    msgspec.structs.replace(
                        terms, contract_id=f"K{index:05d}", client=client.name, client_key=client.external_key
                    )
                )
            )
            session.add(
                Contract(
                    id=contract_id,
                    org_id=org_id,
                    client_id=client.id,
                    code=f"K{index:05d}",
                    name=f"Contract {index}",
                    terms=document,
                    terms_versions=1,
                    start_period="2026-01",
                    workflow_id=names.engagement_id(str(org_id), str(contract_id)),
                )
            )
            pairs.append((str(client.id), str(contract_id)))
    await engine.dispose()

    app = create_app(settings, database_url=app_url)
    for hook in app.on_startup:
        await hook(app)
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as api:
        meter = {
            "key": "tokens",
            "name": "Tokens",
            "event_type": "ai.completion",
            "aggregation": "sum",
            "value_path": "tokens",
            "provider_cost_path": "cost",
            "group_by": {"model": "model"},
        }
        response = await api.post("/v1/meters", json=meter, headers=headers)
        assert response.status_code == 201, response.text
        rng = random.Random(7)
        events = []
        for index in range(contracts):
            for site in SITES:
                for model in MODELS:
                    for _ in range(2):
                        tokens = rng.randint(10_000, 90_000)
                        events.append(
                            {
                                "specversion": "1.0",
                                "id": str(uuid.uuid4()),
                                "source": "bench",
                                "type": "ai.completion",
                                "subject": f"c{index:05d}",
                                "time": EVENT_DAY,
                                "data": {
                                    "tokens": tokens,
                                    "cost": Decimal(tokens) * Decimal("0.000003"),
                                    "model": model,
                                    "site": site,
                                },
                            }
                        )
        for start in range(0, len(events), 1000):
            response = await api.post(
                "/v1/events",
                content=EVENTS_JSON.encode(events[start : start + 1000]),
                headers={**headers, "Content-Type": "application/cloudevents-batch+json"},
            )
            assert response.status_code in (200, 207), response.text
            rejected = [r for r in response.json()["results"] if r["status"] != "accepted"]
            assert not rejected, rejected[:3]
    for hook in app.on_shutdown:
        await hook(app)
    log(f"seeded {contracts} contracts and {len(events)} usage events")
    return org_id, pairs


async def start_all(client: Client, starts: list, concurrency: int = 64) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(args: tuple) -> None:
        async with semaphore:
            workflow, arg, workflow_id, queue = args
            await client.start_workflow(workflow, arg, id=workflow_id, task_queue=queue)

    await asyncio.gather(*(one(s) for s in starts))


async def wait_for(probe, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe() >= expected:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"only {await probe()} of {expected} done after {timeout:.0f} s")


async def run(args: argparse.Namespace, app_url: str, address: str) -> dict[str, float]:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    settings = msgspec.structs.replace(
        load_settings(), temporal_address=address, task_queue=queue, events_rate_per_s=1e9, events_burst=10**9
    )
    org_id, pairs = await seed(app_url, settings, args.contracts)
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    engine = make_engine(app_url, pool_size=20, max_overflow=20)
    sessionmaker = make_sessionmaker(engine)
    worker_options = {
        "workflow_runner": sandbox_runner(),
        "max_concurrent_activities": 64,
        "max_concurrent_workflow_tasks": 64,
    }

    noop_queue = queue + "-noop"
    async with Worker(
        client, task_queue=noop_queue, workflows=[NoopWorkflow], activities=[noop_activity], **worker_options
    ):
        started = time.perf_counter()
        await start_all(
            client,
            [
                (NoopWorkflow.run, NOOP_ACTIVITY, f"noop-{i}-{uuid.uuid4().hex[:6]}", noop_queue)
                for i in range(args.contracts)
            ],
        )

        async def completed() -> int:
            query = f"WorkflowType = 'BenchNoop' AND ExecutionStatus = 'Completed' AND TaskQueue = '{noop_queue}'"
            return (await client.count_workflows(query)).count

        await wait_for(completed, args.contracts, timeout=600)
        assert noop_counter.value >= args.contracts
        ceiling_s = time.perf_counter() - started
    log(f"ceiling: {args.contracts} no-op workflows (one no-op activity each) in {ceiling_s:.2f} s")

    async def drafted() -> int:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT set_config('app.org_id', :o, false)"), {"o": str(org_id)})
            count: int = (
                await conn.execute(
                    text("SELECT count(*) FROM invoices WHERE period = :p AND status IN ('draft', 'blocked')"),
                    {"p": PERIOD},
                )
            ).scalar_one()
            await conn.rollback()
            return count

    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=build_activities(sessionmaker=sessionmaker, settings=settings),
        **worker_options,
    ):
        started = time.perf_counter()
        starts = [
            (
                names.BILLING_CYCLE_WORKFLOW,
                CycleInput(
                    org_id=str(org_id),
                    contract_id=contract_id,
                    client_id=client_id,
                    period=PERIOD,
                    timezone="America/New_York",
                    config=FAST,
                ),
                names.billing_cycle_id(str(org_id), contract_id, PERIOD),
                queue,
            )
            for client_id, contract_id in pairs
        ]
        await start_all(client, starts)
        await wait_for(drafted, args.contracts, timeout=1800)
        close_s = time.perf_counter() - started
    log(f"month close: {args.contracts} invoices drafted, reconciled and announced in {close_s:.2f} s")

    exact = await verify(sessionmaker, org_id, pairs[: min(50, len(pairs))])
    await engine.dispose()
    return {"ceiling_s": ceiling_s, "close_s": close_s, "exact": exact}


async def verify(sessionmaker, org_id: uuid.UUID, pairs: list[tuple[str, str]]) -> bool:
    """Re-rate a sample from the database with the pure engine and compare with the stored invoices."""
    async with tenant_session(sessionmaker, org_id) as session:
        for _, contract_id in pairs:
            gathered = await gather(session, uuid.UUID(contract_id), billing.Period.parse(PERIOD))
            draft, _ = billing.rate(gathered.terms, gathered.inputs, gathered.state, PERIOD)
            stored = (
                await session.execute(
                    text("SELECT total FROM invoices WHERE contract_id = :c AND period = :p"),
                    {"c": contract_id, "p": PERIOD},
                )
            ).scalar_one()
            if stored != draft.total or not gathered.inputs.usage:
                log(f"mismatch for {contract_id}: stored {stored}, re-rated {draft.total}")
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 contracts (under a minute)")
    args = parser.parse_args()
    if args.quick:
        args.contracts = 200
    with tempfile.TemporaryDirectory(prefix="af-month-close-") as tmp:
        root = Path(tmp)
        server = None
        admin_base = os.environ.get("AGENCYFLOW_DATABASE_URL")
        if not admin_base:
            server = EmbeddedPostgres(root / "pg", free_port())
            admin_base = server.start()
        database = f"af_bench_{uuid.uuid4().hex[:8]}"
        admin_url = with_database(admin_base, database)
        temporal = TemporalDevServer(
            db_path=root / "temporal.db", port=free_port(), ui_port=None, log_path=root / "temporal.log"
        )
        try:
            asyncio.run(ensure_database(admin_url, database))
            migrate.upgrade(admin_url)
            address = temporal.start()
            result = asyncio.run(run(args, app_url_for(admin_url), address))
        finally:
            temporal.stop()
            asyncio.run(drop_database(with_database(admin_base, "postgres"), database))
            if server is not None:
                server.destroy()
    invoices_per_s = args.contracts / result["close_s"]
    ceiling_per_s = args.contracts / result["ceiling_s"]
    ratio = invoices_per_s / ceiling_per_s
    log(f"invoices/s {invoices_per_s:.1f}; ceiling {ceiling_per_s:.1f} workflows/s; ratio {ratio:.2f} (goal >= 0.5)")
    log(
        f"RESULT invoices={args.contracts} invoices_per_s={invoices_per_s:.1f} ceiling_per_s={ceiling_per_s:.1f} "
        f"ratio={ratio:.3f} exact={'true' if result['exact'] else 'false'}"
    )
    return 0 if result["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
