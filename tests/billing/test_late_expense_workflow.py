"""End to end through the engagement and billing-cycle workflows: a re-billable expense approved after its
period was invoiced is WIP until the next invoice bills it, once, on a traced late line at its billable
amount — and approving it is allowed although its date lies in a locked period (it used to answer 409, so
the expense could never be approved, nor billed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.permissions import Role
from integrations.accounting.beancount_ledger import bean_check
from persistence.db import tenant_session
from persistence.models import Expense, Person, Project
from tests.billing.late_cycle import next_draft_with_late_work
from tests.billing.test_late_time_workflow import closed, wip_and_invoiced
from tests.engagements.conftest import Stack, eventually, product_stack
from tests.engagements.test_engagement_api import FAST, drafts, make_client


@pytest.fixture(scope="module")
async def stack(temporal_env, sessionmaker, app_database_url, tmp_path_factory) -> AsyncIterator[Stack]:
    ledger_dir: Path = tmp_path_factory.mktemp("ledgers")
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, ledger_dir, "late-expense") as (
        settings,
        client,
    ):
        yield Stack(settings=settings, client=client, temporal=temporal_env.client)


async def seed_expense(sessionmaker, org, client_id: str, day) -> str:
    """A submitted re-billable expense (200.00 + 15 % markup = 230.00) on a new project WEB."""
    async with tenant_session(sessionmaker, org.id) as session:
        project = Project(org_id=org.id, client_id=uuid.UUID(client_id), code="WEB", name="Web", billing_mode="t_and_m")
        person = Person(
            org_id=org.id,
            name="Dana Dev",
            email=f"dana-{uuid.uuid4().hex[:6]}@x.example",
            role="developer",
            cost_rate=Decimal("40"),
            cost_currency="USD",
            weekly_capacity_hours=Decimal("40"),
        )
        session.add_all([project, person])
        await session.flush()
        expense = Expense(
            org_id=org.id,
            project_id=project.id,
            person_id=person.id,
            spent_on=day,
            category="travel",
            description="flight to the client",
            amount=Decimal("200.00"),
            currency="USD",
            billable=True,
            markup=Decimal("0.15"),
            billable_amount=Decimal("230.00"),
            status="submitted",
        )
        session.add(expense)
        await session.flush()
        return str(expense.id)


async def test_an_expense_approved_after_its_period_was_invoiced_is_billed_on_the_next_invoice_as_a_late_line(
    stack, org, sessionmaker
) -> None:
    api = stack.client
    finance = org.headers(Role.FINANCE)
    first, second = closed(-2), closed(-1)
    client_id = await make_client(api, org, timezone="UTC")
    expense_id = await seed_expense(sessionmaker, org, client_id, first.first_day + timedelta(days=9))
    terms = {"start_date": first.first_day.isoformat(), "versions": [{"effective_from": first.key}]}
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "LATE-X", "name": "Expenses", "terms": terms, "config": FAST},
        headers=finance,
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]

    # The first month's invoice is drafted and approved while the expense is still only submitted.
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    assert invoice["period"] == first.key and invoice["total"] == "0.00"
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=finance)
    assert approved.status_code == 200, approved.text

    # Then the expense is approved, in a now locked period: it is work in progress.
    decided = await api.post(f"/v1/expenses/{expense_id}/approve", json={}, headers=org.headers())
    assert decided.status_code == 200, decided.text
    approved_on = datetime.now(UTC).date().isoformat()
    assert await wip_and_invoiced(api, org, client_id, first) == ("230.00", "0.00")

    # The next invoice bills it. (If its draft was gathered before the approval, a redraft picks it up.)
    invoice = await next_draft_with_late_work(api, org, contract_id, second.key, "late expense missing")
    invoice = (await api.get(f"/v1/invoices/{invoice['id']}", headers=finance)).json()
    (line,) = invoice["draft"]["lines"]
    assert line["key"] == f"late|{first.key}|expenses|WEB|travel|{expense_id}"
    assert (line["kind"], line["delta_for"], line["amount"]) == ("expenses", first.key, "230.00")
    assert line["description"] == (
        f"Late expense for {first.key} (approved {approved_on}): WEB: travel, flight to the client "
        f"(spent {first.first_day + timedelta(days=9)})"
    )
    assert line["trace"][0]["stage"] == "late" and line["trace"][0]["refs"] == [expense_id]
    assert invoice["total"] == "230.00"
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=finance)
    assert approved.status_code == 200, approved.text

    # Billed once: no longer WIP, counted as the first month's invoiced revenue (the month it is for), and
    # posted to the ledger's reimbursable-expenses income account.
    assert await wip_and_invoiced(api, org, client_id, first) == ("0.00", "230.00")
    ledger = stack.settings.ledger_dir / f"{org.id}.beancount"

    async def posted() -> str | None:
        text = ledger.read_text() if ledger.exists() else ""
        return text if "Income:Reimbursable-Expenses" in text else None

    text = await eventually(posted, timeout=30)
    assert "Income:Reimbursable-Expenses  -230.00 USD" in text
    assert bean_check(ledger) == []
