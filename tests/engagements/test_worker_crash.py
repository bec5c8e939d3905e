"""Faults: the worker process is SIGKILLed mid-cycle and restarted → exactly one invoice, exactly one ledger
posting, bean-check clean. Two finance users deciding at once → one wins, the other is refused."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import text
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from core.permissions import Role
from core.settings import load_settings
from core.workflow_ids import ledger_sync_id
from integrations.accounting.beancount_ledger import bean_check
from tests.conftest import asgi_client
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_engagement_api import FAST, RETAINER_TERMS, drafts, make_client
from tests.worker_process import WorkerProcess, worker_env

STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED


@pytest.fixture
async def crash_stack(temporal_env, database, app_database_url, tmp_path):
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    env = worker_env(
        database=database,
        app_database_url=app_database_url,
        temporal_address=address,
        task_queue=queue,
        AGENCYFLOW_LEDGER_DIR=str(tmp_path / "ledgers"),
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    settings = msgspec.structs.replace(
        load_settings(), task_queue=queue, temporal_address=address, ledger_dir=tmp_path / "ledgers"
    )
    async with asgi_client(create_app(settings, database_url=app_database_url)) as api:
        yield api, worker, tmp_path / "ledgers"
    worker.stop()


async def test_sigkilled_worker_still_yields_one_invoice_and_one_posting(crash_stack, org, admin_engine) -> None:
    api, worker, ledgers = crash_stack
    client_id = await make_client(api, org)
    terms = retainer_terms(period(-1), "5000.00")
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "CRASH", "name": "Crash test", "terms": terms, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]

    worker.kill()  # mid-cycle: the draft exists, the cycle waits for finance
    worker.start()
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    worker.kill()  # again, while the ledger sync is starting or running
    worker.start()

    await eventually(lambda: ledger_statuses(admin_engine, contract_id, ["posted"]), timeout=90)
    async with admin_engine.connect() as conn:
        invoices = (
            await conn.execute(
                text("SELECT period, status, number FROM invoices WHERE contract_id = :c ORDER BY period, revision"),
                {"c": contract_id},
            )
        ).all()
    assert [(r.period, r.status) for r in invoices] == [(period(-1), "approved")]
    ledger = ledgers / f"{org.id}.beancount"
    assert ledger.read_text().count(f'invoice_id: "{invoice["id"]}"') == 1
    assert bean_check(ledger) == []


async def test_worker_killed_inside_the_ledger_post_is_replaced_within_seconds(
    crash_stack, org, admin_engine, temporal_env
) -> None:
    """The posting activity is pinned on the ledger's file lock, so the kill lands inside it for certain. Without a
    heartbeat the server would only notice the dead worker when the 2-minute start-to-close timeout ran out."""
    api, worker, ledgers = crash_stack
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={
            "client_id": client_id,
            "code": "HOLD",
            "name": "Held ledger",
            "terms": retainer_terms(period(-1), "700.00"),
            "config": FAST,
        },
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    sync = temporal_env.client.get_workflow_handle(ledger_sync_id(str(org.id), invoice["id"]))

    async def posting_in_flight() -> bool:
        try:
            pending = (await sync.describe()).raw_description.pending_activities
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the sync workflow has not started yet
                return False
            raise
        return any(a.state == STARTED for a in pending)

    with holding_lock(ledgers / f"{org.id}.lock"):
        approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        assert approved.status_code == 200, approved.text
        await eventually(posting_in_flight, timeout=30)
        await asyncio.sleep(0.5)  # the attempt is inside flock, waiting for this test
        worker.kill()
    assert await ledger_statuses(admin_engine, contract_id, ["pending"]), "nothing may be posted by the dead worker"
    worker.start()
    restarted = time.monotonic()
    await eventually(lambda: ledger_statuses(admin_engine, contract_id, ["posted"]), timeout=60)
    recovered_s = time.monotonic() - restarted
    assert recovered_s < 45, f"the dead attempt was only replaced after {recovered_s:.0f} s"
    ledger = ledgers / f"{org.id}.beancount"
    assert ledger.read_text().count(f'invoice_id: "{invoice["id"]}"') == 1
    assert bean_check(ledger) == []


@contextlib.contextmanager
def holding_lock(path: Path) -> Iterator[None]:
    """Hold the ledger's own lock (``BeancountLedger._locked``), so a posting waits inside its activity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


async def ledger_statuses(admin_engine, contract_id: str, expected: list[str]) -> bool:  # type: ignore[no-untyped-def]
    async with admin_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT p.status FROM ledger_postings p JOIN invoices i ON i.id = p.invoice_id "
                    "WHERE i.contract_id = :c"
                ),
                {"c": contract_id},
            )
        ).scalars()
        return list(rows) == expected


async def test_two_finance_users_deciding_at_once_one_wins(crash_stack, org) -> None:
    api, _, _ = crash_stack
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "RACE", "name": "Race", "terms": RETAINER_TERMS, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    url = f"/v1/invoices/{invoice['id']}"
    results = await asyncio.gather(
        api.post(f"{url}/approve", json={}, headers=org.headers(Role.FINANCE)),
        api.post(
            f"{url}/adjust",
            headers=org.headers(Role.OWNER),
            json={"reason": "goodwill", "adjustments": [{"description": "Credit", "amount": "-100.00"}]},
        ),
        api.post(f"{url}/approve", json={"reason": "second approver"}, headers=org.headers(Role.OWNER)),
    )
    codes = [r.status_code for r in results]
    assert codes.count(409) >= 1 and codes.count(200) >= 1, [r.text for r in results]
    final = (await api.get(url, headers=org.headers(Role.FINANCE))).json()
    assert final["status"] == "approved"
    assert final["number"] is not None
    approvals = [r for r in (results[0], results[2]) if r.status_code == 200]
    assert len(approvals) == 1, "exactly one approval may win"
    adjusted = results[1].status_code == 200
    assert final["total"] == ("4900.00" if adjusted else "5000.00")
    listed = (
        await api.get(f"/v1/invoices?contract_id={contract_id}&period={period(-2)}", headers=org.headers(Role.FINANCE))
    ).json()["items"]
    assert [(i["status"], i["number"]) for i in listed] == [("approved", final["number"])]
