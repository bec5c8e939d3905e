"""Issue 16, credit notes end to end: by amount, by line and in full against an approved invoice, numbered
CN-<year>-<n> without gaps, never more than was invoiced, posted to the ledger as a reversal that leaves the
client's receivable at zero, reflected in profitability, audited — and another org's credit note is not found."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from beancount import loader
from beancount.core.data import Transaction

from core.permissions import Role
from integrations.accounting.beancount_ledger import bean_check
from persistence.db import tenant_session
from persistence.revenue import recognised_by_client
from tests.engagements.conftest import eventually, product_stack
from tests.engagements.dates import period
from tests.engagements.test_invoice_collection_api import _approved_invoice

FINANCE = Role.FINANCE


async def test_credit_notes_take_back_part_then_the_rest_of_an_invoice_and_reverse_it_in_the_ledger(  # type: ignore[no-untyped-def]
    temporal_env, sessionmaker, app_database_url, tmp_path, monkeypatch, org, other_org
) -> None:
    monkeypatch.setenv("AGENCYFLOW_HOME", str(tmp_path))
    ledgers = tmp_path / "ledgers"
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, ledgers, "credit-notes") as (_, api):
        key = f"cn-{uuid.uuid4().hex[:6]}"
        invoice = await _approved_invoice(api, org, key, "1200.00", None)
        url = f"/v1/invoices/{invoice['id']}/credit-notes"
        year = date.today().year

        by_amount = await api.post(
            url,
            json={"reason": "goodwill for the outage", "mode": "amount", "amount": "200.00"},
            headers={**org.headers(FINANCE), "Idempotency-Key": "cn-1"},
        )
        assert by_amount.status_code == 201, by_amount.text
        first = by_amount.json()
        assert first["number"] == f"CN-{year}-00001" and first["total"] == "200.00"
        replay = await api.post(
            url,
            json={"reason": "goodwill for the outage", "mode": "amount", "amount": "200.00"},
            headers={**org.headers(FINANCE), "Idempotency-Key": "cn-1"},
        )
        assert replay.json()["id"] == first["id"]

        by_line = await api.post(
            url,
            json={"reason": "hours not agreed", "mode": "lines", "lines": [{"line": 0, "amount": "100.00"}]},
            headers=org.headers(FINANCE),
        )
        assert by_line.status_code == 201, by_line.text
        assert by_line.json()["number"] == f"CN-{year}-00002"
        # Revenue: November's fee is earned in November; 300.00 of it was taken back, issued this month.
        served, issued = period(-1), invoice["issue_date"][:7]
        report = await api.get(f"/v1/reports/revenue?from={served}&to={issued}", headers=org.headers(FINANCE))
        assert report.status_code == 200, report.text
        rows = {r["month"]: r for r in report.json()["rows"] if r["client_id"] == invoice["client_id"]}
        assert rows[served]["recognised"] == "900.00"
        assert rows[issued]["recognised_to_date"] == rows[issued]["issued_to_date"] == "900.00"
        assert rows[issued]["deferred"] == "0.00"

        for body, pointer in (
            ({"reason": "x", "mode": "amount", "amount": "900.01"}, "/amount"),
            ({"reason": "x", "mode": "amount", "amount": "1.001"}, "/amount"),
            ({"reason": "x", "mode": "lines", "lines": [{"line": 9}]}, "/lines/0/line"),
        ):
            refused = await api.post(url, json=body, headers=org.headers(FINANCE))
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["pointer"] == pointer
        service = {"Authorization": f"Bearer {org.service_token}"}
        assert (await api.post(url, json={"reason": "x", "mode": "full"}, headers=service)).status_code == 403
        assert (
            await api.post(url, json={"reason": "x", "mode": "full"}, headers=org.headers(Role.PM))
        ).status_code == 403

        rest = await api.post(url, json={"reason": "contract cancelled", "mode": "full"}, headers=org.headers(FINANCE))
        assert rest.status_code == 201, rest.text
        assert rest.json()["number"] == f"CN-{year}-00003" and rest.json()["total"] == "900.00"
        again = await api.post(url, json={"reason": "again", "mode": "full"}, headers=org.headers(FINANCE))
        assert again.status_code == 422 and "nothing is left" in again.json()["detail"]

        after = (await api.get(f"/v1/invoices/{invoice['id']}", headers=org.headers(FINANCE))).json()
        assert after["collection"] == "credited" and Decimal(after["amount_credited"]) == Decimal("1200.00")
        assert after["total"] == invoice["total"] and after["draft"] == invoice["draft"]  # never edited
        pay = {"amount": "1.00", "received_on": str(date.today()), "reference": "LATE"}
        late = await api.post(f"/v1/invoices/{invoice['id']}/payments", json=pay, headers=org.headers(FINANCE))
        assert late.status_code == 422 and "balance due of 0" in late.json()["detail"]

        listed = (await api.get(f"/v1/credit-notes?invoice_id={invoice['id']}", headers=org.headers(FINANCE))).json()
        assert [n["number"] for n in listed["items"]] == [f"CN-{year}-0000{i}" for i in (1, 2, 3)]
        assert sum(Decimal(n["total"]) for n in listed["items"]) == Decimal(invoice["total"])
        # Another organisation's credit note id is simply not found, and its lists hold none of ours.
        credit_note_id = first["id"]
        theirs = await api.get(f"/v1/credit-notes/{credit_note_id}", headers=other_org.headers(FINANCE))
        assert theirs.status_code == 404
        assert (await api.get("/v1/credit-notes", headers=other_org.headers(FINANCE))).json()["items"] == []

        async def all_posted() -> bool:
            notes = (await api.get(f"/v1/credit-notes?invoice_id={invoice['id']}", headers=org.headers(FINANCE))).json()
            return all(n["ledger_status"] == "posted" for n in notes["items"])

        await eventually(all_posted, timeout=60)
        ledger = ledgers / f"{org.id}.beancount"
        await eventually(lambda: _has(ledger, invoice["number"]), timeout=60)
        assert bean_check(ledger) == []
        receivable = _balance(ledger.read_text(), "Assets:Receivable:")
        assert receivable == {"USD": Decimal(0)}
        # The ledger comes through the API, and an accountant finds November's documents by their service period.
        download = await api.get("/v1/ledger", headers=org.headers(FINANCE))
        assert download.status_code == 200 and download.text == ledger.read_text()
        entries, errors, _ = loader.load_string(download.text)
        assert errors == []
        november = [e for e in entries if isinstance(e, Transaction) and e.meta.get("period") == period(-1)]
        assert {e.meta["invoice_number"] for e in november} >= {
            invoice["number"],
            *(f"CN-{year}-0000{i}" for i in (1, 2, 3)),
        }
        mine = [e for e in november if e.meta["client"] == key]
        assert len(mine) == 4 and {e.meta["contract"] for e in mine} == {f"C-{key}"}
        assert (await api.get("/v1/ledger", headers=org.headers(Role.STAFF))).status_code == 403
        assert (await api.get("/v1/ledger", headers=other_org.headers(FINANCE))).status_code == 404

        # Profitability's revenue seam: what the invoice earned, less what its credit notes took back, is nothing.
        first_day = date.fromisoformat(f"{period(-1)}-01")
        async with tenant_session(sessionmaker, org.id) as session:
            recognised = await recognised_by_client(session, first_day, first_day)
        assert recognised.get((uuid.UUID(invoice["client_id"]), "USD"), Decimal(0)) == Decimal(0)

        audit = (await api.get("/v1/audit-log?entity_type=credit_note&limit=50", headers=org.headers())).json()["items"]
        assert sorted(e["action"] for e in audit if e["action"] == "credit_note.issue") == ["credit_note.issue"] * 3


async def _has(ledger, number: str) -> bool:  # type: ignore[no-untyped-def]
    return ledger.exists() and number in ledger.read_text()


def _balance(text: str, prefix: str) -> dict[str, Decimal]:
    """Sum of postings to accounts under ``prefix`` per currency, read from the ledger text."""
    totals: dict[str, Decimal] = {}
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) == 3 and parts[0].startswith(prefix):
            totals[parts[2]] = totals.get(parts[2], Decimal(0)) + Decimal(parts[1])
    return totals
