"""Issue 16, overdue and dunning on durable timers (Temporal's time-skipping server, so weeks pass in seconds):
an unpaid invoice becomes overdue the client's day after its due date and is reminded on each of the org's
reminder days, once each; an invoice paid before its due date is never chased."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import text

from billing.periods import local_midnight_utc
from core.permissions import Role
from tests.engagements.conftest import eventually
from tests.engagements.test_search_attributes import contract_for, draft
from tests.engagements.test_time_skipping import Skipping, _closed, advance_to, approve, skipping  # noqa: F401
from workflows import names


async def _issued(stack: Skipping, org, key: str, terms_days: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    _, contract_id = await contract_for(stack.api, org, key, "900.00", terms_days)
    drafted = await eventually(lambda: draft(stack.api, org, contract_id), timeout=60)
    return await approve(stack, org, drafted["id"])


async def _collection_result(stack: Skipping, org, invoice_id: str, until: date) -> str:  # type: ignore[no-untyped-def]
    """Skip virtual time to the client's ``until`` day, then the collection workflow's result once it closed."""
    handle = stack.env.client.get_workflow_handle(names.invoice_collection_id(org.id, invoice_id))
    await advance_to(stack.env, local_midnight_utc(until, "America/New_York"))
    await eventually(lambda: _closed(handle), timeout=60)
    result: str = await handle.result()
    return result


async def test_an_unpaid_invoice_goes_overdue_and_is_reminded_on_each_reminder_day_once(
    skipping: Skipping,  # noqa: F811 - the fixture
    org,  # type: ignore[no-untyped-def]
    admin_engine,
) -> None:
    policy = await skipping.api.put(
        "/v1/org/collection-policy",
        json={"payment_terms_days": 30, "reminder_days": [3, 10]},
        headers=org.headers(Role.FINANCE),
    )
    assert policy.status_code == 200, policy.text
    invoice = await _issued(skipping, org, f"late-{uuid.uuid4().hex[:6]}", terms_days=5)
    due = date.fromisoformat(invoice["due_date"])
    assert due == date.fromisoformat(invoice["issue_date"]) + timedelta(days=5)

    result = await _collection_result(skipping, org, invoice["id"], until=due + timedelta(days=11))
    assert result == "2 reminders sent"

    after = (await skipping.api.get(f"/v1/invoices/{invoice['id']}", headers=org.headers(Role.FINANCE))).json()
    assert after["overdue_since"] == str(due + timedelta(days=1))
    assert after["collection"] == "issued"
    notes = (
        await skipping.api.get(f"/v1/notifications?invoice_id={invoice['id']}", headers=org.headers(Role.FINANCE))
    ).json()["items"]
    kinds = sorted(n["kind"] for n in notes if n["kind"] in ("overdue", "dunning"))
    assert kinds == ["dunning", "dunning", "overdue"]
    assert any("10 days overdue, 900.00 USD due" in n["message"] for n in notes)
    async with admin_engine.connect() as conn:
        actions = (
            await conn.execute(
                text("SELECT action, actor_type FROM audit_log WHERE entity_id = :i AND action LIKE 'invoice.%' "),
                {"i": invoice["id"]},
            )
        ).all()
    assert sorted(a for a, t in actions if t == "system") == ["invoice.dunning", "invoice.dunning", "invoice.overdue"]


async def test_an_invoice_paid_before_its_due_date_is_never_chased(skipping: Skipping, org) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    invoice = await _issued(skipping, org, f"prompt-{uuid.uuid4().hex[:6]}", terms_days=7)
    paid = await skipping.api.post(
        f"/v1/invoices/{invoice['id']}/payments",
        json={"amount": invoice["total"], "received_on": invoice["issue_date"], "reference": "WIRE-1"},
        headers=org.headers(Role.FINANCE),
    )
    assert paid.status_code == 201, paid.text
    until = date.fromisoformat(invoice["due_date"]) + timedelta(days=2)
    assert await _collection_result(skipping, org, invoice["id"], until=until) == "settled before due"
    after = (await skipping.api.get(f"/v1/invoices/{invoice['id']}", headers=org.headers(Role.FINANCE))).json()
    assert after["collection"] == "paid" and after["overdue_since"] is None
