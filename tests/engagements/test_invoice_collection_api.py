"""Issue 16, collection through the API and the real workflows: approval issues the invoice with a due date
from the client's terms, sending mails the stored PDF, payments move it to partially paid and paid (exactly,
idempotently by reference), and only an unpaid invoice is voided — each step audited and announced."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from core.permissions import Role
from persistence.finance_events import (
    INVOICE_PAID,
    INVOICE_PAYMENT,
    INVOICE_SENT,
    INVOICE_VOIDED,
)
from tests.engagements.conftest import eventually, product_stack
from tests.engagements.test_search_attributes import contract_for, draft

FINANCE = Role.FINANCE


async def _approved_invoice(api, org, key: str, amount: str, terms_days: int | None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    _, contract_id = await contract_for(api, org, key, amount, terms_days)
    drafted = await eventually(lambda: draft(api, org, contract_id), timeout=60)
    approved = await api.post(f"/v1/invoices/{drafted['id']}/approve", json={}, headers=org.headers(FINANCE))
    assert approved.status_code == 200, approved.text
    invoice: dict = approved.json()  # type: ignore[type-arg]
    return invoice


async def test_an_invoice_is_issued_sent_paid_in_parts_and_only_an_unpaid_one_voided(  # type: ignore[no-untyped-def]
    temporal_env, sessionmaker, app_database_url, admin_engine, tmp_path, monkeypatch, org
) -> None:
    monkeypatch.setenv("AGENCYFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE", "1")
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, tmp_path / "ledgers", "collect") as (
        _,
        api,
    ):
        hook = await api.post(
            "/v1/webhooks",
            json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": [INVOICE_SENT, INVOICE_PAYMENT, INVOICE_PAID, INVOICE_VOIDED],
            },
            headers=org.headers(FINANCE),
        )
        assert hook.status_code == 201, hook.text
        policy = await api.put(
            "/v1/org/collection-policy",
            json={"payment_terms_days": 30, "reminder_days": [14, 7, 30]},
            headers=org.headers(FINANCE),
        )
        assert policy.status_code == 200 and policy.json()["reminder_days"] == [7, 14, 30]

        invoice = await _approved_invoice(api, org, f"paid-{uuid.uuid4().hex[:6]}", "1200.00", None)
        issued = date.fromisoformat(invoice["issue_date"])
        assert invoice["collection"] == "issued" and invoice["number"].startswith("INV-")
        assert abs((issued - datetime.now(UTC).date()).days) <= 1
        assert date.fromisoformat(invoice["due_date"]) == issued + timedelta(days=30)
        assert invoice["amount_paid"] == "0"

        inv = f"/v1/invoices/{invoice['id']}"
        sent = await api.post(f"{inv}/send", json={"to": ["ap@client.test"]}, headers=org.headers(FINANCE))
        assert sent.status_code == 200, sent.text
        assert sent.json()["collection"] == "sent" and sent.json()["sent_at"]
        (mail_file,) = (tmp_path / "outbox").glob("*.eml")
        mail = email.message_from_bytes(mail_file.read_bytes(), policy=email.policy.default)
        assert mail["To"] == "ap@client.test" and invoice["number"] in mail["Subject"]
        (attachment,) = list(mail.iter_attachments())  # type: ignore[attr-defined]
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"{invoice['number']}.pdf"
        pdf = attachment.get_content()
        assert pdf.startswith(b"%PDF") and pdf == (await api.get(f"{inv}/pdf", headers=org.headers(FINANCE))).content

        pay = {"amount": "500.00", "received_on": str(issued), "reference": "BANK-1"}
        first = await api.post(f"{inv}/payments", json=pay, headers=org.headers(FINANCE))
        assert first.status_code == 201, first.text
        replay = await api.post(f"{inv}/payments", json=pay, headers=org.headers(FINANCE))
        assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
        clash = await api.post(f"{inv}/payments", json={**pay, "amount": "501.00"}, headers=org.headers(FINANCE))
        assert clash.status_code == 422 and clash.json()["errors"][0]["pointer"] == "/reference"
        for bad in ("700.01", "1.234", "0", "-5"):
            r = await api.post(
                f"{inv}/payments", json={**pay, "amount": bad, "reference": f"X-{bad}"}, headers=org.headers(FINANCE)
            )
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["errors"][0]["pointer"] == "/amount", bad
        now = (await api.get(inv, headers=org.headers(FINANCE))).json()
        assert now["collection"] == "partially_paid" and Decimal(now["amount_paid"]) == Decimal("500.00")
        rest = await api.post(
            f"{inv}/payments", json={**pay, "amount": "700.00", "reference": "BANK-2"}, headers=org.headers(FINANCE)
        )
        assert rest.status_code == 201, rest.text
        now = (await api.get(inv, headers=org.headers(FINANCE))).json()
        assert now["collection"] == "paid" and Decimal(now["amount_paid"]) == Decimal(now["total"])
        payments = (await api.get(f"{inv}/payments", headers=org.headers(FINANCE))).json()
        assert [p["reference"] for p in payments] == ["BANK-1", "BANK-2"]
        refused = await api.post(f"{inv}/void", json={"reason": "typo"}, headers=org.headers(FINANCE))
        assert refused.status_code == 409 and "paid" in refused.json()["detail"]

        # A client with its own terms; voided before anything is paid, then nothing more is collected on it.
        other = await _approved_invoice(api, org, f"void-{uuid.uuid4().hex[:6]}", "300.00", 14)
        assert date.fromisoformat(other["due_date"]) == date.fromisoformat(other["issue_date"]) + timedelta(days=14)
        oth = f"/v1/invoices/{other['id']}"
        assert (await api.post(f"{oth}/void", json={}, headers=org.headers(FINANCE))).status_code == 422
        voided = await api.post(f"{oth}/void", json={"reason": "duplicate of a manual invoice"}, headers=org.headers())
        assert voided.status_code == 200, voided.text
        assert voided.json()["collection"] == "void" and voided.json()["void_reason"] == "duplicate of a manual invoice"
        late = await api.post(f"{oth}/payments", json={**pay, "reference": "B-3"}, headers=org.headers(FINANCE))
        assert late.status_code == 409
        service = {"Authorization": f"Bearer {org.service_token}"}
        assert (await api.post(f"{oth}/void", json={"reason": "x"}, headers=service)).status_code == 403
        staff = await api.post(f"{inv}/payments", json=pay, headers=org.headers(Role.STAFF))
        assert staff.status_code == 403

        audit = (await api.get("/v1/audit-log?entity_type=invoice&limit=200", headers=org.headers())).json()["items"]
        actions = [e["action"] for e in audit if e["entity_id"] in (invoice["id"], other["id"])]
        assert actions.count("invoice.payment") == 2
        assert {"invoice.send", "invoice.void"} <= set(actions)

    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_type, count(*) FROM webhook_deliveries WHERE endpoint_id = :e GROUP BY event_type"),
            {"e": hook.json()["id"]},
        )
        counts = dict(rows.all())
    assert counts == {INVOICE_SENT: 1, INVOICE_PAYMENT: 2, INVOICE_PAID: 1, INVOICE_VOIDED: 1}


def test_every_event_the_product_emits_can_be_subscribed_to() -> None:
    from typing import get_args

    from api.routes.webhooks import EVENT_TYPES, EventType

    assert set(get_args(EventType)) == set(EVENT_TYPES)
