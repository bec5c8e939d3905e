"""Long-running engagements on Temporal's time-skipping test server: a year and a month of billing in seconds.

The multi-site AI platform of examples/contracts/01 (category rates × per-site minimums × annual caps per
site across the contract year), moved two years ahead so that every period really is waited for: 13 invoices,
each equal to the figure worked out by hand in the example, across continue-as-new. Also: reminders and
escalation on timers, pause/resume skipping whole periods, and late usage after approval billed as a delta.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
import yaml
from sqlalchemy import text
from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

import billing
from cli.worker import ensure_search_attributes
from core.permissions import Role
from core.runtime.temporal import venv_binary
from integrations.accounting.beancount_ledger import bean_check
from persistence import audit
from persistence.ingest import decode_body, ingest
from tests import orphans
from tests.engagements.conftest import eventually, product_stack, record_histories
from tests.engagements.dates import future_year
from tests.engagements.test_engagement_api import drafts, make_client
from workflows import names
from workflows.converter import DATA_CONVERTER

EXAMPLE = Path(__file__).parents[2] / "examples" / "contracts" / "01-multisite-ai-platform"
YEAR = future_year()
SHIFT = (YEAR - 2025) * 12  # months: 2025-01 in the example becomes January of YEAR, in the server's future
CONFIG = {"grace_s": 3600, "remind_after_s": 2 * 86400, "escalate_after_s": 5 * 86400}


def shifted(period: str) -> str:
    return str(billing.Period.parse(period).shift(SHIFT))


@dataclass
class Skipping:
    env: WorkflowEnvironment
    api: httpx.AsyncClient
    ledger_dir: Path


@pytest.fixture
async def skipping(sessionmaker, app_database_url, tmp_path) -> AsyncIterator[Skipping]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    servers = orphans.register_children(venv_binary("temporal-test-server"))
    await ensure_search_attributes(env.client, "default")
    ledger_dir = tmp_path / "ledgers"
    try:
        async with product_stack(env.client, sessionmaker, app_database_url, ledger_dir, "skipping") as (_, api):
            yield Skipping(env=env, api=api, ledger_dir=ledger_dir)
    finally:
        await env.shutdown()
        orphans.forget_children(servers)


async def approve(skipping: Skipping, org, invoice_id: str) -> dict:
    """Approve through the API (a workflow Update). The Java time-skipping test server keeps one time-skipping
    lock per Update it processes, which would freeze virtual time for the rest of the test; release it."""
    approved = await skipping.api.post(f"/v1/invoices/{invoice_id}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    invoice = approved.json()
    ledger = skipping.env.client.get_workflow_handle(names.ledger_sync_id(str(org.id), invoice_id))
    await eventually(lambda: _closed(ledger))
    await skipping.env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    return invoice


async def _closed(handle) -> bool:
    try:
        return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
    except RPCError:
        return False


async def advance_to(env: WorkflowEnvironment, instant: datetime) -> None:
    now = await env.get_current_time()
    if instant > now:
        await env.sleep(instant - now)


async def ingest_at(sessionmaker, org, events: list[dict], at: datetime) -> None:
    """Usage as the ingest API stores it, with the clock at ``at`` (the API's own clock is real time)."""
    decoded, _ = decode_body(msgspec.json.encode(events), batch=True)
    outcome = await ingest(sessionmaker, org.id, decoded, actor=audit.Actor(type="test", id="skipping"), now=at)
    assert all(r.status == "accepted" for r in outcome.results), outcome.results[:3]


def usage_events(client_key: str, period: str, rows: list[dict]) -> list[dict]:
    start, _ = billing.period_bounds(period, "America/Chicago")
    at = (start + timedelta(days=9, hours=12)).isoformat()
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "helix/app",
            "type": "com.helix.document.processed",
            "subject": client_key,
            "time": at,
            "data": {"units": float(row["quantity"]), "site": row["site"], "category": row["category"]},
        }
        for row in rows
    ]


async def setup_helix(api, org, sessionmaker) -> tuple[str, str]:
    client_id = await make_client(api, org, timezone="America/Chicago")
    key = (await api.get(f"/v1/clients/{client_id}", headers=org.headers())).json()["external_key"]
    for code in ("north", "south", "east"):
        response = await api.post(
            f"/v1/clients/{client_id}/sites", json={"code": code, "name": code.title()}, headers=org.headers()
        )
        assert response.status_code == 201
    meter = {
        "key": "documents",
        "name": "Documents",
        "event_type": "com.helix.document.processed",
        "aggregation": "sum",
        "value_path": "units",
        "group_by": {"category": "category"},
    }
    assert (await api.post("/v1/meters", json=meter, headers=org.headers())).status_code == 201
    return client_id, key


def helix_terms() -> dict:
    terms = msgspec.json.decode(billing.encode(billing.load_terms(EXAMPLE / "contract.yaml")))
    terms["start_date"] = f"{YEAR}-01-01"
    terms["contract_year_anchor"] = f"{YEAR}-01"
    for version in terms["versions"]:
        version["effective_from"] = shifted(version["effective_from"])
    return terms


async def test_thirteen_months_of_a_multi_site_contract_match_the_worked_example(
    skipping, org, sessionmaker, admin_engine
) -> None:
    api, env = skipping.api, skipping.env
    client_id, key = await setup_helix(api, org, sessionmaker)
    rows = list(csv.DictReader((EXAMPLE / "usage.csv").open()))
    by_period: dict[str, list[dict]] = {}
    for row in rows:
        by_period.setdefault(shifted(row["period"]), []).append(row)
    expected = {
        shifted(p["period"]): p["expected"]["total"]
        for p in yaml.safe_load((EXAMPLE / "expected.yaml").read_text())["periods"]
    }
    assert len(expected) == 13
    for period, period_rows in by_period.items():
        start, _ = billing.period_bounds(period, "America/Chicago")
        await ingest_at(sessionmaker, org, usage_events(key, period, period_rows), start + timedelta(days=10))

    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "HELIX", "name": "Helix AI", "terms": helix_terms(), "config": CONFIG},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    totals = {}
    for index, period in enumerate(sorted(expected)):
        _, end = billing.period_bounds(period, "America/Chicago")
        await advance_to(env, end + timedelta(seconds=CONFIG["grace_s"] + 60))
        invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
        assert invoice["period"] == period
        if index == 1:
            await check_reminder_then_escalation(env, admin_engine, invoice["id"])
        totals[period] = (await approve(skipping, org, invoice["id"]))["total"]
    assert totals == expected

    ledger = skipping.ledger_dir / f"{org.id}.beancount"
    await eventually(lambda: _ledger_count(ledger, 13), timeout=60)
    assert bean_check(ledger) == []
    status = (await api.get(f"/v1/contracts/{contract_id}/engagement", headers=org.headers(Role.FINANCE))).json()
    assert status["cycles"] == 13 and status["next_period"] == f"{YEAR + 1}-02"
    # The engagement handed its history on with continue-as-new after twelve cycles.
    handle = env.client.get_workflow_handle(names.engagement_id(str(org.id), contract_id))
    description = await handle.describe()
    assert description.run_id != (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    await record_histories(
        env.client,
        {
            "engagement_after_continue_as_new": names.engagement_id(str(org.id), contract_id),
            "billing_cycle_with_reminder_and_escalation": names.billing_cycle_id(
                str(org.id), contract_id, f"{YEAR}-02"
            ),
        },
    )


async def _ledger_count(ledger: Path, count: int) -> bool:
    return ledger.exists() and ledger.read_text().count("invoice_id:") == count


async def check_reminder_then_escalation(env, admin_engine, invoice_id: str) -> None:
    async def kinds() -> list[str]:
        async with admin_engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        text("SELECT kind FROM notifications WHERE invoice_id = :i ORDER BY created_at, id"),
                        {"i": invoice_id},
                    )
                ).scalars()
            )

    assert await kinds() == ["invoice_ready"]
    await env.sleep(timedelta(seconds=CONFIG["remind_after_s"] + 60))
    await eventually(lambda: _has(kinds, ["invoice_ready", "reminder"]))
    await env.sleep(timedelta(seconds=CONFIG["escalate_after_s"] - CONFIG["remind_after_s"]))
    await eventually(lambda: _has(kinds, ["invoice_ready", "reminder", "escalation"]))


async def _has(kinds, expected: list[str]) -> bool:
    return await kinds() == expected


async def test_pause_skips_whole_periods_and_resume_bills_again(skipping, org) -> None:
    api, env = skipping.api, skipping.env
    client_id = await make_client(api, org)
    terms = {
        "start_date": f"{YEAR}-01-01",
        "versions": [
            {
                "effective_from": f"{YEAR}-01",
                "retainers": [{"id": "r", "description": "Retainer", "amount": "1000.00", "billing": "arrears"}],
            }
        ],
    }
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "PAUSE", "name": "Pause", "terms": terms, "config": CONFIG},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    _, january_end = billing.period_bounds(f"{YEAR}-01", "America/New_York")
    await advance_to(env, january_end - timedelta(days=10))
    paused = await api.post(f"/v1/contracts/{contract_id}/pause", headers=org.headers(Role.FINANCE))
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    # January had begun before the pause and is billed; February and March pass entirely while paused.
    await advance_to(env, january_end + timedelta(hours=2))
    january = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    assert january["period"] == f"{YEAR}-01"
    await approve(skipping, org, january["id"])
    april_start, april_end = billing.period_bounds(f"{YEAR}-04", "America/New_York")
    await advance_to(env, april_start + timedelta(days=9))
    resumed = await api.post(f"/v1/contracts/{contract_id}/resume", headers=org.headers(Role.FINANCE))
    assert resumed.status_code == 200
    await advance_to(env, april_end + timedelta(hours=2))
    april = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    assert (april["period"], april["total"]) == (f"{YEAR}-04", "1000.00")
    status = (await api.get(f"/v1/contracts/{contract_id}/engagement", headers=org.headers(Role.FINANCE))).json()
    assert status["skipped_periods"] == [f"{YEAR}-02", f"{YEAR}-03"]


async def test_late_usage_after_approval_is_billed_as_a_delta_next_cycle(skipping, org, sessionmaker) -> None:
    api, env = skipping.api, skipping.env
    client_id, key = await setup_helix(api, org, sessionmaker)
    terms = helix_terms()
    terms["start_date"] = f"{YEAR}-06-01"
    terms["contract_year_anchor"] = f"{YEAR}-01"
    terms["versions"][0]["effective_from"] = f"{YEAR}-06"
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "LATE", "name": "Late", "terms": terms, "config": CONFIG},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    june_start, june_end = billing.period_bounds(f"{YEAR}-06", "America/Chicago")
    north = [{"site": "north", "category": "standard", "quantity": "2000"}]
    await ingest_at(sessionmaker, org, usage_events(key, f"{YEAR}-06", north), june_start + timedelta(days=10))
    await advance_to(env, june_end + timedelta(seconds=CONFIG["grace_s"] + 60))
    june = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    # North 2,000 x 0.50 = 1,000.00; South and East owe their 400.00 minimums: 1,800.00.
    assert june["total"] == "1800.00"
    await approve(skipping, org, june["id"])
    # 300 more June units arrive after June was approved (flagged late), plus normal July usage.
    late = [{"site": "north", "category": "standard", "quantity": "300"}]
    after = datetime(YEAR, 7, 5, 12, tzinfo=UTC)
    await ingest_at(sessionmaker, org, usage_events(key, f"{YEAR}-06", late), after)
    july_start, july_end = billing.period_bounds(f"{YEAR}-07", "America/Chicago")
    await ingest_at(sessionmaker, org, usage_events(key, f"{YEAR}-07", north), july_start + timedelta(days=10))
    await advance_to(env, july_end + timedelta(seconds=CONFIG["grace_s"] + 60))
    july = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    full = (await api.get(f"/v1/invoices/{july['id']}", headers=org.headers(Role.FINANCE))).json()
    deltas = [line for line in full["draft"]["lines"] if line.get("delta_for") == f"{YEAR}-06"]
    # 300 x 0.50 = 150.00 for June, on July's invoice; July itself is 1,800.00 again.
    assert [line["amount"] for line in deltas] == ["150.00"]
    assert full["total"] == "1950.00"
