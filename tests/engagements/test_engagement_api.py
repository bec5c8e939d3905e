"""An engagement end to end on the dev server: contract → cycles → finance approval → numbered invoices →
exactly one Beancount posting each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.permissions import Role
from integrations.accounting.beancount_ledger import bean_check
from tests.engagements.conftest import eventually, record_histories
from tests.engagements.dates import period, retainer_terms
from workflows import names

RETAINER_TERMS = retainer_terms(period(-2), "5000.00")
FAST = {"grace_s": 0, "remind_after_s": 3600, "escalate_after_s": 7200}


async def make_client(api, org, *, currency: str = "USD", timezone: str = "America/New_York") -> str:
    body = {
        "name": "Retainer Co",
        "external_key": f"rc-{uuid.uuid4().hex[:6]}",
        "currency": currency,
        "timezone": timezone,
    }
    response = await api.post("/v1/clients", json=body, headers=org.headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def drafts(api, org, contract_id: str, status: str = "draft") -> list[dict]:
    response = await api.get(
        f"/v1/invoices?contract_id={contract_id}&status={status}", headers=org.headers(Role.FINANCE)
    )
    return response.json()["items"]


async def test_retainer_engagement_bills_each_closed_month_once(stack, org) -> None:
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "RET-1", "name": "Retainer", "terms": RETAINER_TERMS, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]

    numbers = []
    for closed in (period(-2), period(-1)):
        invoice = (await eventually(lambda: drafts(api, org, contract_id)))[0]
        assert invoice["period"] == closed
        assert invoice["total"] == "5000.00"
        approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        numbers.append(approved.json()["number"])
        again = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
        assert again.status_code == 409
    year = datetime.now(UTC).year
    assert numbers == [f"INV-{year}-00001", f"INV-{year}-00002"]

    ledger = stack.settings.ledger_dir / f"{org.id}.beancount"
    await eventually(lambda: _posted(api, org, contract_id, 2))
    text = ledger.read_text()
    assert text.count("invoice_id:") == 2
    assert "Income:Retainer  -5000.00 USD" in text
    assert bean_check(ledger) == []
    status = (await api.get(f"/v1/contracts/{contract_id}/engagement", headers=org.headers(Role.FINANCE))).json()
    assert status["cycles"] == 2
    assert status["next_period"] == period(0)
    assert status["totals"] == {"USD": "10000.00"}
    org_id = str(org.id)
    await record_histories(
        stack.temporal,
        {
            "engagement_two_cycles": names.engagement_id(org_id, contract_id),
            "billing_cycle_approved": names.billing_cycle_id(org_id, contract_id, period(-2)),
            "ledger_sync_posted": names.ledger_sync_id(org_id, approved.json()["id"]),
        },
    )


async def _posted(api, org, contract_id: str, count: int) -> bool:
    approved = await drafts(api, org, contract_id, "approved")
    statuses = []
    for invoice in approved:
        rows = (await api.get(f"/v1/invoices/{invoice['id']}/ledger", headers=org.headers(Role.FINANCE))).json()
        statuses += [row["status"] for row in rows]
    return statuses.count("posted") == count
