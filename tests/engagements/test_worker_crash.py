"""Faults: the worker process is SIGKILLed mid-cycle and restarted → exactly one invoice, exactly one ledger
posting, bean-check clean. Two finance users deciding at once → one wins, the other is refused."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from sqlalchemy import text

from api.app import create_app
from core.permissions import Role
from core.settings import load_settings
from integrations.accounting.beancount_ledger import bean_check
from tests.conftest import asgi_client
from tests.engagements.conftest import eventually
from tests.engagements.dates import period, retainer_terms
from tests.engagements.test_engagement_api import FAST, RETAINER_TERMS, drafts, make_client
from tests.worker_process import WorkerProcess, worker_env


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

    async def posted() -> bool:
        async with admin_engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        text(
                            "SELECT p.status FROM ledger_postings p JOIN invoices i ON i.id = p.invoice_id "
                            "WHERE i.contract_id = :c"
                        ),
                        {"c": contract_id},
                    )
                )
                .scalars()
                .all()
            )
        return rows == ["posted"]

    await eventually(posted, timeout=90)
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
