"""Gathering and claiming re-billable expenses against the real database and billing activities: an expense is
billed by the approved invoice whose inputs list it (in its currency), by one invoice only; one in another
currency is named and left unbilled; expenses of periods invoiced before the engine billed expenses are not
billed again."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import text
from temporalio.exceptions import ApplicationError

import billing
from activities.billing import BillingActivities, builtins
from core.ids import new_id
from core.settings import load_settings
from persistence.db import tenant_session
from persistence.models import Contract, Expense
from tests.billing.test_late_time_milestones import TERMS, Ids, approve, draft, lines, world


async def add_expense(sessionmaker, org, ids: Ids, spent_on: date, amount: str, currency: str = "USD") -> str:
    async with tenant_session(sessionmaker, org.id) as session:
        row = Expense(
            org_id=org.id,
            project_id=ids.project,
            person_id=ids.person,
            spent_on=spent_on,
            category="travel",
            description="train",
            amount=Decimal(amount),
            currency=currency,
            billable=True,
            markup=Decimal(0),
            billable_amount=Decimal(amount),
            status="approved",
            decided_at=datetime(2026, 2, 2, 9, tzinfo=UTC),
        )
        session.add(row)
        await session.flush()
        return str(row.id)


async def test_an_expense_two_contracts_of_the_client_both_drafted_is_billed_by_the_first_approved_only(
    sessionmaker, org
) -> None:
    acts = BillingActivities(sessionmaker, load_settings())
    ids = await world(sessionmaker, org)
    second = Ids(ids.org, ids.client, new_id(), ids.project, ids.person)
    async with tenant_session(sessionmaker, org.id) as session:
        terms = billing.load_terms(TERMS.encode())
        session.add(
            Contract(
                id=second.contract,
                org_id=org.id,
                client_id=ids.client,
                code="MS2",
                name="MS2",
                terms=builtins(msgspec.structs.replace(terms, contract_id=str(second.contract))),
                start_period="2026-01",
                workflow_id=f"engagement/{org.id}/{second.contract}",
            )
        )
    expense_id = await add_expense(sessionmaker, org, ids, date(2026, 1, 20), "75.00")
    one, two = await draft(acts, ids, "2026-01"), await draft(acts, second, "2026-01")
    key = f"expenses|MS|travel|{expense_id}"
    assert (await lines(sessionmaker, ids, one))[0] == {key: "75.00"}
    assert (await lines(sessionmaker, second, two))[0] == {key: "75.00"}
    await approve(acts, ids, one)
    with pytest.raises(ApplicationError, match=re.escape(f"expense {expense_id}: already billed on invoice INV-")):
        await approve(acts, second, two)
    # A redraft of the second contract's invoice no longer gathers it.
    async with tenant_session(sessionmaker, org.id) as session:
        await session.execute(text("UPDATE invoices SET status = 'rejected' WHERE id = :i"), {"i": two})
    assert (await lines(sessionmaker, second, await draft(acts, second, "2026-02")))[0] == {}


async def test_an_expense_in_another_currency_is_named_on_each_invoice_and_never_claimed(sessionmaker, org) -> None:
    acts = BillingActivities(sessionmaker, load_settings())
    ids = await world(sessionmaker, org)
    expense_id = await add_expense(sessionmaker, org, ids, date(2026, 1, 20), "40.00", currency="EUR")
    january = await draft(acts, ids, "2026-01")
    assert await lines(sessionmaker, ids, january) == ({}, {"expense_other_currency"})
    await approve(acts, ids, january)
    february = await draft(acts, ids, "2026-02")  # still unbilled, so still named
    async with tenant_session(sessionmaker, org.id) as session:
        stored = (await session.execute(text("SELECT draft FROM invoices WHERE id = :i"), {"i": february})).scalar()
    (note,) = stored["notes"]
    assert note["code"] == "expense_other_currency" and f"{expense_id} (40.00 EUR)" in note["message"]


async def test_expenses_of_a_period_invoiced_before_expenses_were_billed_are_not_billed_late(sessionmaker, org) -> None:
    acts = BillingActivities(sessionmaker, load_settings())
    ids = await world(sessionmaker, org)
    january = await draft(acts, ids, "2026-01")
    await approve(acts, ids, january)
    async with tenant_session(sessionmaker, org.id) as session:  # as stored by the engine before expenses
        await session.execute(text("UPDATE invoices SET inputs = inputs - 'expenses' WHERE id = :i"), {"i": january})
    await add_expense(sessionmaker, org, ids, date(2026, 1, 20), "75.00")  # January's: settled outside
    february_id = await add_expense(sessionmaker, org, ids, date(2026, 2, 3), "12.00")
    february = await draft(acts, ids, "2026-02")
    assert (await lines(sessionmaker, ids, february))[0] == {f"expenses|MS|travel|{february_id}": "12.00"}
