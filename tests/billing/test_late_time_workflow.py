"""End to end through the engagement and billing-cycle workflows: time whose week is approved after its
period was invoiced is WIP until the next invoice bills it on a traced late line, at its own date's rate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import billing
from core.permissions import Role
from persistence.db import tenant_session
from persistence.models import Person, Project, TimeEntry
from tests.billing.late_cycle import next_draft_with_late_work
from tests.engagements.conftest import Stack, eventually, product_stack
from tests.engagements.test_engagement_api import FAST, drafts, make_client

UTC_TZ = "UTC"


@pytest.fixture(scope="module")
async def stack(temporal_env, sessionmaker, app_database_url, tmp_path_factory) -> AsyncIterator[Stack]:
    ledger_dir: Path = tmp_path_factory.mktemp("ledgers")
    async with product_stack(temporal_env.client, sessionmaker, app_database_url, ledger_dir, "late-time") as (
        settings,
        client,
    ):
        yield Stack(settings=settings, client=client, temporal=temporal_env.client)


def closed(offset: int) -> billing.Period:
    return billing.Period.of_date(datetime.now(UTC).date()).shift(offset)


async def seed_week(sessionmaker, org, client_id: str, day, minutes: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A developer's entries on ``day`` (drafts, as logged), on a new project; returns the person and entry ids."""
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
        ids = {}
        for name, m in minutes.items():
            entry = TimeEntry(
                org_id=org.id,
                person_id=person.id,
                project_id=project.id,
                role="developer",
                work_date=day,
                minutes=Decimal(m),
                billable=True,
                status="draft",
                cost_rate=Decimal("40"),
                cost_currency="USD",
                bill_rate=Decimal("100"),
                bill_currency="USD",
            )
            session.add(entry)
            await session.flush()
            ids[name] = str(entry.id)
    return str(person.id), ids


async def wip_and_invoiced(api, org, client_id: str, period: billing.Period) -> tuple[str, str]:
    report = await api.get(
        f"/v1/reports/profitability?from={period.first_day}&to={period.last_day}&client_id={client_id}",
        headers=org.headers(Role.FINANCE),
    )
    assert report.status_code == 200, report.text
    (row,) = [r for r in report.json()["rows"] if r["project_code"] == "WEB"]
    return row["wip"], row["invoiced"]


async def test_time_approved_after_its_period_was_invoiced_is_billed_on_the_next_invoice_as_a_late_line(
    stack, org, sessionmaker
) -> None:
    api = stack.client
    finance = org.headers(Role.FINANCE)
    first, second = closed(-2), closed(-1)
    client_id = await make_client(api, org, timezone=UTC_TZ)
    # The 10th of the first month: its whole week lies inside that month.
    day = first.first_day + timedelta(days=9)
    monday = day - timedelta(days=day.weekday())
    person_id, ids = await seed_week(sessionmaker, org, client_id, day, {"late": "90"})
    submitted = await api.post(
        "/v1/timesheets/submit", json={"week_start": monday.isoformat(), "person_id": person_id}, headers=org.headers()
    )
    assert submitted.status_code == 200, submitted.text
    terms = {
        "start_date": first.first_day.isoformat(),
        "versions": [
            {
                "effective_from": first.key,
                "time_and_materials": {
                    "rate_cards": [
                        {"effective_from": first.first_day.isoformat(), "roles": {"developer": "100"}},
                        # a raise from the second month: the late hour still bills at the first month's rate
                        {"effective_from": second.first_day.isoformat(), "roles": {"developer": "130"}},
                    ]
                },
            }
        ],
    }
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "LATE", "name": "T&M", "terms": terms, "config": FAST},
        headers=finance,
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]

    # The first month's invoice is drafted and approved while the week is still only submitted.
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    assert invoice["period"] == first.key and invoice["total"] == "0.00"
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=finance)
    assert approved.status_code == 200, approved.text

    # Then the week is approved: its time belongs to an invoiced period, and is work in progress.
    sheet = (await api.get(f"/v1/timesheets?person_id={person_id}", headers=org.headers())).json()["items"][0]
    decided = await api.post(f"/v1/timesheets/{sheet['id']}/approve", json={}, headers=org.headers())
    assert decided.status_code == 200, decided.text
    approved_on = datetime.now(UTC).date().isoformat()
    assert await wip_and_invoiced(api, org, client_id, first) == ("150.00", "0.00")

    # The next invoice bills it. (If its draft was gathered before the week's approval, a redraft picks it up.)
    invoice = await next_draft_with_late_work(api, org, contract_id, second.key, "late time missing")
    invoice = (await api.get(f"/v1/invoices/{invoice['id']}", headers=finance)).json()
    (line,) = invoice["draft"]["lines"]
    assert line["key"].startswith(f"late|{first.key}|services|WEB|")
    assert line["delta_for"] == first.key
    assert line["description"].startswith(f"Late time for {first.key} (approved {approved_on}): ")
    assert (line["quantity"], line["unit_price"], line["amount"]) == ("1.50", "100", "150.00")
    assert line["trace"][0]["stage"] == "late" and line["trace"][0]["refs"] == [ids["late"]]
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=finance)
    assert approved.status_code == 200, approved.text

    # Billed once: no longer WIP, counted as the first month's invoiced revenue (the month it is for).
    assert await wip_and_invoiced(api, org, client_id, first) == ("0.00", "150.00")
