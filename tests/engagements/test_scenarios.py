"""Engagement scenarios on the dev server, each checked against figures worked out by hand in
examples/contracts (retainer rollover), or below (amendment boundary, prorated termination)."""

from __future__ import annotations

import csv
import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import msgspec
import pytest
import yaml
from sqlalchemy import select

import billing
from core.permissions import Role
from persistence.db import tenant_session
from persistence.models import Invoice, Person, Project, TimeEntry
from tests.engagements.conftest import eventually
from tests.engagements.dates import first_day, period, retainer_terms, yesterday_in_this_month
from tests.engagements.test_engagement_api import FAST, drafts, make_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "contracts"


def example_terms(name: str) -> dict:
    terms = billing.load_terms(EXAMPLES / name / "contract.yaml")
    return msgspec.json.decode(billing.encode(terms))


async def seed_time(sessionmaker, org, client_id: str, rows: list[dict]) -> None:
    """Approved time entries (what timesheet approval produces), with the projects and people they need."""
    async with tenant_session(sessionmaker, org.id) as session:
        projects: dict[str, Project] = {}
        people: dict[str, Person] = {}
        for row in rows:
            if row["project"] not in projects:
                project = Project(
                    org_id=org.id,
                    client_id=uuid.UUID(client_id),
                    code=f"{row['project']}",
                    name=row["project"],
                    billing_mode="retainer",
                )
                session.add(project)
                projects[row["project"]] = project
            if row["person"] not in people:
                person = Person(
                    org_id=org.id,
                    name=row["person"],
                    email=f"{row['person']}-{uuid.uuid4().hex[:6]}@x.example",
                    role=row["role"],
                    cost_rate=Decimal("60"),
                    cost_currency="EUR",
                    weekly_capacity_hours=Decimal("40"),
                )
                session.add(person)
                people[row["person"]] = person
        await session.flush()
        for row in rows:
            session.add(
                TimeEntry(
                    org_id=org.id,
                    person_id=people[row["person"]].id,
                    project_id=projects[row["project"]].id,
                    role=row["role"],
                    work_date=date.fromisoformat(row["work_date"]),
                    minutes=Decimal(row["minutes"]),
                    billable=row["billable"] == "true",
                    status="approved",
                    cost_rate=Decimal("60"),
                    cost_currency="EUR",
                )
            )


async def approve_next(api, org, contract_id: str, period: str) -> dict:
    invoice = (await eventually(lambda: drafts(api, org, contract_id), timeout=60))[0]
    assert invoice["period"] == period
    approved = await api.post(f"/v1/invoices/{invoice['id']}/approve", json={}, headers=org.headers(Role.FINANCE))
    assert approved.status_code == 200, approved.text
    return approved.json()


async def test_retainer_rollover_and_overage_over_three_periods(stack, org, sessionmaker) -> None:
    api = stack.client
    client_id = await make_client(api, org, currency="EUR", timezone="Europe/Berlin")
    rows = list(csv.DictReader((EXAMPLES / "02-retainer-rollover-overage" / "time.csv").open()))
    await seed_time(sessionmaker, org, client_id, rows)
    terms = example_terms("02-retainer-rollover-overage")
    terms["end_date"] = "2025-03-31"
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "BRIGHT", "name": "Support", "terms": terms, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    expected = yaml.safe_load((EXAMPLES / "02-retainer-rollover-overage" / "expected.yaml").read_text())
    totals = {p["period"]: p["expected"]["total"] for p in expected["periods"]}
    for month in ("2025-01", "2025-02", "2025-03"):
        invoice = await approve_next(api, org, contract_id, month)
        assert invoice["total"] == totals[month], month
        lines = {line["key"]: line["amount"] for line in invoice["draft"]["lines"]}
        if month == "2025-02":
            assert lines["retainer|support|overage"] == "450.00"
    async with tenant_session(sessionmaker, org.id) as session:
        march = (
            await session.execute(
                select(Invoice).where(Invoice.contract_id == uuid.UUID(contract_id), Invoice.period == "2025-03")
            )
        ).scalar_one()
    state = msgspec.convert(march.state_after, billing.CarriedState, strict=False)
    assert {(b.earned, b.minutes) for b in state.rollover} == {("2025-03", Decimal("300"))}
    # Profitability reads invoiced revenue from the approved invoices: the AUDIT time billed in February.
    report = (
        await api.get(
            f"/v1/reports/profitability?from=2025-02-01&to=2025-02-28&client_id={client_id}",
            headers=org.headers(Role.FINANCE),
        )
    ).json()
    invoiced = {row["project_code"]: row["invoiced"] for row in report["rows"]}
    assert invoiced["AUDIT"] == "303.75"
    # Per client, the whole net of February's invoice: retainer 4,000.00 + overage 450.00 + AUDIT 303.75.
    by_client = (
        await api.get(
            f"/v1/reports/profitability?from=2025-02-01&to=2025-02-28&client_id={client_id}&group_by=client",
            headers=org.headers(Role.FINANCE),
        )
    ).json()
    assert [row["invoiced"] for row in by_client["rows"]] == ["4753.75"]
    # The contract ends with 2025-03: the engagement finishes and marks the contract ended.
    contract = await eventually(lambda: _contract_with_status(api, org, contract_id, "ended"))
    assert contract["status"] == "ended"


async def _contract_with_status(api, org, contract_id: str, status: str) -> dict | None:
    body = (await api.get(f"/v1/contracts/{contract_id}", headers=org.headers(Role.FINANCE))).json()
    return body if body["status"] == status else None


MONTHLY = retainer_terms(period(-1), "3000.00", retainer_id="ops")


async def test_amendment_takes_effect_at_the_next_period_boundary(stack, org) -> None:
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "AMEND", "name": "Amend", "terms": MONTHLY, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    last_month = await approve_next(api, org, contract_id, period(-1))
    assert last_month["total"] == "3000.00"
    amended = await api.post(
        f"/v1/contracts/{contract_id}/amendments",
        json={
            "version": {
                "label": "new price",
                "retainers": [
                    {"id": "ops", "description": "Operations retainer", "amount": "3600.00", "billing": "arrears"}
                ],
            }
        },
        headers=org.headers(Role.FINANCE),
    )
    assert amended.status_code == 200, amended.text
    # Today is inside the current month, so the next boundary is next month: this month keeps the old price.
    assert amended.json() == {"effective_from": period(1), "terms_versions": 2}
    versions = (await api.get(f"/v1/contracts/{contract_id}/versions", headers=org.headers(Role.FINANCE))).json()
    assert [v["effective_from"] for v in versions] == [period(-1), period(1)]
    current = (
        await api.get(f"/v1/contracts/{contract_id}/running?period={period(0)}", headers=org.headers(Role.FINANCE))
    ).json()
    following = (
        await api.get(f"/v1/contracts/{contract_id}/running?period={period(1)}", headers=org.headers(Role.FINANCE))
    ).json()
    assert (current["total"], following["total"]) == ("3000.00", "3600.00")
    status = (await api.get(f"/v1/contracts/{contract_id}/engagement", headers=org.headers(Role.FINANCE))).json()
    assert status["terms_versions"] == 2
    stored = (await api.get(f"/v1/invoices/{last_month['id']}", headers=org.headers(Role.FINANCE))).json()
    assert stored["total"] == "3000.00"


async def test_invalid_amendment_is_refused_with_its_problems(stack, org) -> None:
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "BADAMEND", "name": "x", "terms": MONTHLY, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    bad = await api.post(
        f"/v1/contracts/{contract_id}/amendments",
        json={"version": {"retainers": [{"id": "ops", "description": "x", "amount": "-5.00", "billing": "arrears"}]}},
        headers=org.headers(Role.FINANCE),
    )
    assert bad.status_code == 409
    assert "amount" in bad.json()["detail"]
    versions = (await api.get(f"/v1/contracts/{contract_id}/versions", headers=org.headers(Role.FINANCE))).json()
    assert len(versions) == 1


async def test_termination_bills_a_prorated_final_cycle(stack, org) -> None:
    effective = yesterday_in_this_month()
    if effective is None:
        pytest.skip("on the 1st no day of the current month has ended yet; the final cycle would wait for midnight")
    api = stack.client
    client_id = await make_client(api, org)
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "TERM", "name": "Terminate", "terms": MONTHLY, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    contract_id = created.json()["id"]
    await approve_next(api, org, contract_id, period(-1))
    terminated = await api.post(
        f"/v1/contracts/{contract_id}/terminate",
        json={"effective_on": effective.isoformat(), "reason": "project cancelled"},
        headers=org.headers(Role.FINANCE),
    )
    assert terminated.status_code == 200, terminated.text
    assert terminated.json() == {
        "final_period": period(0),
        "terminates_on": effective.isoformat(),
        "status": "terminating",
    }
    # Until its final invoice is approved the contract says it is ending, and when.
    ending = (await api.get(f"/v1/contracts/{contract_id}", headers=org.headers(Role.FINANCE))).json()
    assert (ending["status"], ending["terminates_on"], ending["final_period"]) == (
        "terminating",
        effective.isoformat(),
        period(0),
    )
    paused = await api.post(f"/v1/contracts/{contract_id}/pause", headers=org.headers(Role.FINANCE))
    assert paused.status_code == 409
    final = await approve_next(api, org, contract_id, period(0))
    # Service through the termination day, prorated by calendar days, rounded once (half up):
    # e.g. through the 15th of a 30-day month, 3,000.00 x 15 / 30 = 1,500.00.
    days = billing.Period.parse(period(0)).days
    expected = (Decimal("3000.00") * effective.day / days).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert final["total"] == str(expected)
    contract = await eventually(lambda: _contract_with_status(api, org, contract_id, "terminated"))
    assert contract["status"] == "terminated"
    again = await api.post(
        f"/v1/contracts/{contract_id}/terminate",
        json={"effective_on": effective.isoformat(), "reason": "again"},
        headers=org.headers(Role.FINANCE),
    )
    assert again.status_code == 409


async def test_milestone_signal_bills_the_fixed_fee_on_the_next_invoice(stack, org) -> None:
    accepted_on = yesterday_in_this_month()
    if accepted_on is None:
        pytest.skip("on the 1st no day of the current month has ended yet; the final cycle would wait for midnight")
    api = stack.client
    client_id = await make_client(api, org)
    terms = {
        "start_date": first_day(period(0)),
        "versions": [
            {
                "effective_from": period(0),
                "milestones": [{"id": "mvp", "description": "MVP delivered", "amount": "12000.00"}],
            }
        ],
    }
    created = await api.post(
        "/v1/contracts",
        json={"client_id": client_id, "code": "MILE", "name": "Milestones", "terms": terms, "config": FAST},
        headers=org.headers(Role.FINANCE),
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    unknown = await api.post(
        f"/v1/contracts/{contract_id}/milestone-acceptances",
        json={"id": "nope", "accepted_on": accepted_on.isoformat()},
        headers=org.headers(Role.PM),
    )
    assert unknown.status_code == 422
    accepted = await api.post(
        f"/v1/contracts/{contract_id}/milestone-acceptances",
        json={"id": "mvp", "accepted_on": accepted_on.isoformat()},
        headers=org.headers(Role.PM),
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "accepted", "period": period(0)}
    # The current month is still open; ending the engagement yesterday closes it now with a final cycle.
    ended = await api.post(
        f"/v1/contracts/{contract_id}/terminate",
        json={"effective_on": accepted_on.isoformat(), "reason": "delivered"},
        headers=org.headers(Role.FINANCE),
    )
    assert ended.status_code == 200, ended.text
    final = await approve_next(api, org, contract_id, period(0))
    assert final["total"] == "12000.00"
    assert [line["kind"] for line in final["draft"]["lines"]] == ["milestone"]
