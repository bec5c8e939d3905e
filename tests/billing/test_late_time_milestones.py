"""A milestone accepted (dated in a period) after that period's invoice was drafted is billed once, on the
next invoice — gathering used to read only the acceptances dated in the invoice's own period, so it was lost.
Also: approving a draft whose time changed since it was rated is refused, so no hour is billed wrongly."""

from __future__ import annotations

import re
import uuid
from datetime import date
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
from persistence.models import Client, Contract, Milestone, Person, Project, TimeEntry
from workflows.inputs import CycleInput, DecisionRecord, DraftWrite

TERMS = """
contract_id: ms
currency: USD
timezone: UTC
start_date: 2026-01-01
versions:
  - effective_from: 2026-01
    milestones:
      - {id: design, description: Design sign-off, amount: "2000.00"}
    time_and_materials:
      rate_cards:
        - {effective_from: 2026-01-01, roles: {developer: "100"}}
"""


class Ids(msgspec.Struct):
    org: str
    client: uuid.UUID
    contract: uuid.UUID
    project: uuid.UUID
    person: uuid.UUID


async def world(sessionmaker, org) -> Ids:
    terms = billing.load_terms(TERMS.encode())
    async with tenant_session(sessionmaker, org.id) as session:
        key = f"m-{uuid.uuid4().hex[:8]}"
        client = Client(org_id=org.id, name="M", external_key=key, currency="USD", timezone="UTC")
        person = Person(
            org_id=org.id,
            name="Dev",
            email=f"d-{uuid.uuid4().hex[:8]}@x.example",
            role="developer",
            cost_rate=Decimal("40"),
            cost_currency="USD",
            weekly_capacity_hours=Decimal("40"),
        )
        session.add_all([client, person])
        await session.flush()
        project = Project(org_id=org.id, client_id=client.id, code="MS", name="MS", billing_mode="fixed")
        contract_id = new_id()
        session.add_all(
            [
                project,
                Contract(
                    id=contract_id,
                    org_id=org.id,
                    client_id=client.id,
                    code="MS",
                    name="MS",
                    terms=builtins(msgspec.structs.replace(terms, contract_id=str(contract_id))),
                    start_period="2026-01",
                    workflow_id=f"engagement/{org.id}/{contract_id}",
                ),
            ]
        )
        await session.flush()
        return Ids(str(org.id), client.id, contract_id, project.id, person.id)


async def draft(acts: BillingActivities, ids: Ids, period: str) -> str:
    inp = CycleInput(org_id=ids.org, contract_id=str(ids.contract), client_id=str(ids.client), period=period)
    gathered = await acts.gather_cycle_inputs(inp)
    invoice, state_after = billing.rate(gathered.terms, gathered.inputs, gathered.state, period)
    filed = await acts.file_draft_invoice(
        DraftWrite(
            org_id=ids.org,
            contract_id=str(ids.contract),
            client_id=str(ids.client),
            period=period,
            workflow_id=f"billing/{ids.org}/{ids.contract}/{period}",
            draft=invoice,
            inputs=gathered.inputs,
            state_before=gathered.state,
            state_after=state_after,
        ),
        inp,
    )
    return filed.invoice.invoice_id


async def approve(acts: BillingActivities, ids: Ids, invoice_id: str) -> None:
    outcome = await acts.record_invoice_decision(
        DecisionRecord(
            org_id=ids.org,
            invoice_id=invoice_id,
            action="approve",
            actor_id="fin",
            actor_role="finance",
            issue_date=date(2026, 6, 1),
        )
    )
    assert outcome.status == "approved"


async def lines(sessionmaker, ids: Ids, invoice_id: str) -> tuple[dict[str, str], set[str]]:
    async with tenant_session(sessionmaker, uuid.UUID(ids.org)) as session:
        stored = (await session.execute(text("SELECT draft FROM invoices WHERE id = :i"), {"i": invoice_id})).scalar()
    return {ln["key"]: ln["amount"] for ln in stored["lines"]}, {n["code"] for n in stored["notes"]}


async def test_a_milestone_accepted_into_a_period_after_its_draft_is_billed_once_on_the_next_invoice(
    sessionmaker, org
) -> None:
    acts = BillingActivities(sessionmaker, load_settings())
    ids = await world(sessionmaker, org)
    january = await draft(acts, ids, "2026-01")
    async with tenant_session(sessionmaker, org.id) as session:  # accepted on 30 January, after the draft
        session.add(
            Milestone(
                org_id=org.id,
                project_id=ids.project,
                code="design",
                name="Design",
                amount=Decimal("2000"),
                currency="USD",
                status="accepted",
                accepted_on=date(2026, 1, 30),
            )
        )
    await approve(acts, ids, january)
    assert (await lines(sessionmaker, ids, january))[0] == {}

    february = await draft(acts, ids, "2026-02")
    amounts, notes = await lines(sessionmaker, ids, february)
    assert amounts == {"milestone|design": "2000.00"}
    assert "milestone_from_earlier_period" in notes
    await approve(acts, ids, february)
    march = await draft(acts, ids, "2026-03")
    assert await lines(sessionmaker, ids, march) == ({}, set())  # billed once: not gathered again


async def test_approving_a_draft_whose_time_changed_since_it_was_rated_is_refused(sessionmaker, org) -> None:
    acts = BillingActivities(sessionmaker, load_settings())
    ids = await world(sessionmaker, org)
    async with tenant_session(sessionmaker, org.id) as session:
        entry = TimeEntry(
            org_id=org.id,
            person_id=ids.person,
            project_id=ids.project,
            role="developer",
            work_date=date(2026, 1, 12),
            minutes=Decimal("60"),
            status="approved",
            cost_rate=Decimal("40"),
            cost_currency="USD",
        )
        session.add(entry)
    january = await draft(acts, ids, "2026-01")
    assert (await lines(sessionmaker, ids, january))[0] == {f"services|MS||{ids.person}|2026-01-01|100": "100.00"}
    async with tenant_session(sessionmaker, org.id) as session:  # week reopened, edited, approved again
        await session.execute(text("UPDATE time_entries SET minutes = 90 WHERE id = :i"), {"i": entry.id})
    changed = re.escape("changed since the draft (60.00 -> 90.00 minutes)")
    with pytest.raises(ApplicationError, match=changed) as refused:
        await approve(acts, ids, january)
    assert refused.value.type == "Conflict"
    async with tenant_session(sessionmaker, org.id) as session:  # nothing numbered, nothing locked
        status = (await session.execute(text("SELECT status FROM invoices WHERE id = :i"), {"i": january})).scalar()
    assert status == "draft"
