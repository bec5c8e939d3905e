"""Time entries through the API: own-time rules, pm scope, rate snapshots, 24 h rule, locks, timesheets."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import msgspec
from sqlalchemy import text

from core.permissions import Role
from persistence.billing_locks import lock_period
from persistence.db import tenant_session
from persistence.time_store import approved_time
from tests.projects.conftest import add_person, dec, log


async def test_staff_log_own_time_and_rates_are_snapshotted_but_hidden_from_them(client, world) -> None:
    entry = await log(client, world.alice, world.project_id, "2026-02-02", "2.5", notes="pipeline")
    assert entry["person_id"] == world.alice.person_id
    assert entry["minutes"] == "150.00" and entry["hours"] == "2.50"
    assert entry["status"] == "draft" and entry["role"] == "developer"
    assert entry["cost_rate"] is None and entry["bill_rate"] is None  # staff do not see what they cost
    seen = (await client.get(f"/v1/time-entries/{entry['id']}", headers=world.org.headers(Role.FINANCE))).json()
    assert (dec(seen["cost_rate"]), seen["cost_currency"]) == (dec("50"), "USD")
    assert (dec(seen["bill_rate"]), seen["bill_currency"]) == (dec("150"), "USD")  # project override wins
    bob = await log(client, world.bob, world.project_id, "2026-02-02", "1")
    bob_seen = (await client.get(f"/v1/time-entries/{bob['id']}", headers=world.org.headers())).json()
    assert dec(bob_seen["bill_rate"]) == dec("100")  # no designer override: the client's card


async def test_staff_see_and_write_only_their_own_time(client, world, sessionmaker) -> None:
    bobs = await log(client, world.bob, world.project_id, "2026-02-03", "1")
    alices = await log(client, world.alice, world.project_id, "2026-02-03", "2")
    as_alice = world.alice.headers()
    assert (await client.get(f"/v1/time-entries/{bobs['id']}", headers=as_alice)).status_code == 404
    patched = await client.patch(f"/v1/time-entries/{bobs['id']}", json={"hours": "3"}, headers=as_alice)
    assert patched.status_code == 404
    assert (await client.delete(f"/v1/time-entries/{bobs['id']}", headers=as_alice)).status_code == 404
    for_bob = await client.post(
        "/v1/time-entries",
        json={
            "project_id": world.project_id,
            "work_date": "2026-02-03",
            "hours": "1",
            "person_id": world.bob.person_id,
        },
        headers=as_alice,
    )
    assert for_bob.status_code == 403
    listed = (await client.get("/v1/time-entries?limit=200", headers=as_alice)).json()["items"]
    assert [e["id"] for e in listed] == [alices["id"]]
    unbound = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-02-03", "hours": "1"},
        headers=world.org.headers(Role.STAFF),
    )
    assert unbound.status_code == 403
    assert "not bound to a person" in unbound.json()["detail"]


async def test_pm_acts_on_its_projects_only(client, world) -> None:
    as_paula = world.paula.headers()
    body = {"work_date": "2026-02-04", "hours": "1", "person_id": world.alice.person_id}
    ok = await client.post("/v1/time-entries", json={"project_id": world.project_id, **body}, headers=as_paula)
    assert ok.status_code == 201, ok.text
    elsewhere = await client.post(
        "/v1/time-entries", json={"project_id": world.other_project_id, **body}, headers=as_paula
    )
    assert elsewhere.status_code == 403
    assert "do not manage" in elsewhere.json()["detail"]
    bob_elsewhere = await log(client, world.bob, world.other_project_id, "2026-02-04", "2")
    listed = {e["id"] for e in (await client.get("/v1/time-entries", headers=as_paula)).json()["items"]}
    assert ok.json()["id"] in listed and bob_elsewhere["id"] not in listed
    hidden = await client.get(f"/v1/time-entries/{bob_elsewhere['id']}", headers=as_paula)
    assert hidden.status_code == 404


async def test_more_than_24_hours_a_day_and_bad_fields_are_422_naming_the_field(client, world) -> None:
    await log(client, world.alice, world.project_id, "2026-02-05", "20")
    over = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-02-05", "hours": "4.5"},
        headers=world.alice.headers(),
    )
    assert over.status_code == 422
    assert over.json()["errors"][0]["pointer"] == "/minutes"
    both = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-13-01", "hours": "1", "minutes": "60"},
        headers=world.alice.headers(),
    )
    assert both.status_code == 422
    assert {e["pointer"] for e in both.json()["errors"]} >= {"/work_date"}
    bad_phase = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-02-06", "hours": "1", "phase_id": str(uuid.uuid4())},
        headers=world.alice.headers(),
    )
    assert bad_phase.status_code == 422
    assert bad_phase.json()["errors"] == [{"detail": "no such phase in this project", "pointer": "/phase_id"}]
    neither = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-02-06"},
        headers=world.alice.headers(),
    )
    assert neither.json()["errors"] == [{"detail": "give minutes or hours", "pointer": "/minutes"}]


async def test_stale_if_match_is_412_and_changes_nothing(client, world) -> None:
    entry = await log(client, world.alice, world.project_id, "2026-02-09", "1")
    url = f"/v1/time-entries/{entry['id']}"
    first = await client.patch(url, json={"notes": "a"}, headers=world.alice.headers(**{"If-Match": '"1"'}))
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    stale = await client.patch(url, json={"notes": "b"}, headers=world.alice.headers(**{"If-Match": '"1"'}))
    assert stale.status_code == 412
    assert (await client.get(url, headers=world.alice.headers())).json()["notes"] == "a"


async def test_timesheet_submit_approve_reject_and_billing_reads_approved_time(client, world, sessionmaker) -> None:
    monday = "2026-02-09"
    a1 = await log(client, world.alice, world.project_id, "2026-02-09", "3", billable=True)
    a2 = await log(client, world.alice, world.project_id, "2026-02-10", "1.25", billable=False)
    submitted = await client.post("/v1/timesheets/submit", json={"week_start": monday}, headers=world.alice.headers())
    assert submitted.status_code == 200, submitted.text
    sheet = submitted.json()
    assert (sheet["status"], sheet["hours"], sheet["billable_hours"], sheet["entries"]) == (
        "submitted",
        "4.25",
        "3.00",
        2,
    )
    locked_edit = await client.patch(f"/v1/time-entries/{a1['id']}", json={"hours": "2"}, headers=world.alice.headers())
    assert locked_edit.status_code == 409
    late = await client.post(
        "/v1/time-entries",
        json={"project_id": world.project_id, "work_date": "2026-02-11", "hours": "1"},
        headers=world.alice.headers(),
    )
    assert late.status_code == 409
    not_monday = await client.post(
        "/v1/timesheets/submit", json={"week_start": "2026-02-10"}, headers=world.alice.headers()
    )
    assert not_monday.json()["errors"] == [{"detail": "2026-02-10 is not a Monday", "pointer": "/week_start"}]
    url = f"/v1/timesheets/{sheet['id']}"
    assert (await client.post(f"{url}/approve", headers=world.alice.headers())).status_code == 403  # staff
    no_reason = await client.post(f"{url}/reject", json={}, headers=world.paula.headers())
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["pointer"] == "/reason"
    rejected = await client.post(f"{url}/reject", json={"reason": "split the QA hours"}, headers=world.paula.headers())
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    fixed = await client.patch(f"/v1/time-entries/{a1['id']}", json={"hours": "2.75"}, headers=world.alice.headers())
    assert fixed.status_code == 200 and fixed.json()["status"] == "draft"
    again = await client.post("/v1/timesheets/submit", json={"week_start": monday}, headers=world.alice.headers())
    assert again.json()["status"] == "submitted"
    approved = await client.post(f"{url}/approve", json={"note": "thanks"}, headers=world.paula.headers())
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    entry = (await client.get(f"/v1/time-entries/{a2['id']}", headers=world.alice.headers())).json()
    assert entry["status"] == "approved"

    async with tenant_session(sessionmaker, world.org.id) as session:
        rows = await approved_time(
            session, uuid.UUID(world.client_id), datetime(2026, 2, 1).date(), datetime(2026, 2, 28).date()
        )
        billable = await approved_time(
            session,
            uuid.UUID(world.client_id),
            datetime(2026, 2, 1).date(),
            datetime(2026, 2, 28).date(),
            billable_only=True,
        )
    project_code = (await client.get(f"/v1/projects/{world.project_id}", headers=world.org.headers())).json()["code"]
    assert [(r.id, r.person, r.role, r.project, r.phase, str(r.work_date), r.minutes, r.billable) for r in rows] == [
        (a1["id"], world.alice.person_id, "developer", project_code, None, "2026-02-09", dec("165.00"), True),
        (a2["id"], world.alice.person_id, "developer", project_code, None, "2026-02-10", dec("75.00"), False),
    ]
    assert [r.id for r in billable] == [a1["id"]]
    assert rows[0].person_name == "Alice Dev"
    # The shape is the billing engine's input, field for field.
    try:
        from billing.inputs import TimeEntry as BillingTimeEntry
    except ImportError:  # pragma: no cover - billing is written concurrently
        return
    converted = msgspec.convert(msgspec.to_builtins(rows[0]), BillingTimeEntry)
    assert converted.minutes == dec("165.00") and converted.project == project_code


async def test_pm_cannot_approve_a_week_with_time_on_projects_it_does_not_manage(client, world) -> None:
    await log(client, world.bob, world.project_id, "2026-02-16", "2")
    await log(client, world.bob, world.other_project_id, "2026-02-17", "2")
    sheet = (
        await client.post("/v1/timesheets/submit", json={"week_start": "2026-02-16"}, headers=world.bob.headers())
    ).json()
    listed = (await client.get("/v1/timesheets?status=submitted", headers=world.paula.headers())).json()["items"]
    assert [t["id"] for t in listed] == [sheet["id"]]  # a week with time on a project paula manages
    assert (await client.get("/v1/timesheets", headers=world.alice.headers())).json()["items"] == []
    denied = await client.post(f"/v1/timesheets/{sheet['id']}/approve", headers=world.paula.headers())
    assert denied.status_code == 403
    assert "projects you do not manage" in denied.json()["detail"]
    by_lead = await client.post(f"/v1/timesheets/{sheet['id']}/approve", headers=world.org.headers(Role.DELIVERY_LEAD))
    assert by_lead.status_code == 200


async def test_pm_cannot_approve_its_own_week(client, world) -> None:
    await log(client, world.paula, world.project_id, "2026-02-16", "2")
    sheet = (
        await client.post("/v1/timesheets/submit", json={"week_start": "2026-02-16"}, headers=world.paula.headers())
    ).json()
    own = await client.post(f"/v1/timesheets/{sheet['id']}/approve", headers=world.paula.headers())
    assert own.status_code == 403 and "your own timesheet" in own.json()["detail"]


async def test_entries_in_a_period_locked_after_approval_answer_409(client, world, sessionmaker) -> None:
    """The client is in Europe/Berlin: January is locked from 2026-01-01 00:00+01:00 to 2026-02-01 00:00+01:00."""
    jan = await log(client, world.alice, world.project_id, "2026-01-30", "4")
    sheet = (
        await client.post("/v1/timesheets/submit", json={"week_start": "2026-01-26"}, headers=world.alice.headers())
    ).json()
    assert (
        await client.post(f"/v1/timesheets/{sheet['id']}/approve", headers=world.paula.headers())
    ).status_code == 200
    async with tenant_session(sessionmaker, world.org.id) as session:
        await lock_period(
            session,
            org_id=world.org.id,
            client_id=uuid.UUID(world.client_id),
            period="2026-01",
            period_start=datetime(2025, 12, 31, 23, tzinfo=UTC),
            period_end=datetime(2026, 1, 31, 23, tzinfo=UTC),
            invoice_id=None,
        )
    reopened = await client.post(f"/v1/timesheets/{sheet['id']}/reopen", headers=world.paula.headers())
    assert reopened.status_code == 409
    assert reopened.headers["content-type"] == "application/problem+json"
    for response in (
        await client.patch(f"/v1/time-entries/{jan['id']}", json={"hours": "1"}, headers=world.paula.headers()),
        await client.delete(f"/v1/time-entries/{jan['id']}", headers=world.org.headers()),
        await client.post(
            "/v1/time-entries",
            json={"project_id": world.project_id, "work_date": "2026-01-31", "hours": "1"},
            headers=world.bob.headers(),
        ),
    ):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "locked by an approved invoice" in response.json()["detail"]
    # 1 February local time is the first day after the lock.
    await log(client, world.bob, world.project_id, "2026-02-01", "1")
    moved_in = await log(client, world.bob, world.project_id, "2026-02-02", "1")
    into_lock = await client.patch(
        f"/v1/time-entries/{moved_in['id']}", json={"work_date": "2026-01-15"}, headers=world.bob.headers()
    )
    assert into_lock.status_code == 409


async def test_rate_card_change_reprices_only_unlocked_time(client, world, sessionmaker) -> None:
    old = await log(client, world.bob, world.project_id, "2026-01-12", "1")
    new = await log(client, world.bob, world.project_id, "2026-02-12", "1")
    async with tenant_session(sessionmaker, world.org.id) as session:
        await lock_period(
            session,
            org_id=world.org.id,
            client_id=uuid.UUID(world.client_id),
            period="2026-01",
            period_start=datetime(2025, 12, 31, 23, tzinfo=UTC),
            period_end=datetime(2026, 1, 31, 23, tzinfo=UTC),
            invoice_id=None,
        )
    changed = await client.put(
        f"/v1/clients/{world.client_id}/rates",
        json={"rates": [{"role": "designer", "hourly_rate": "110"}, {"role": "developer", "hourly_rate": "120"}]},
        headers=world.org.headers(Role.FINANCE),
    )
    assert changed.status_code == 200 and changed.json()["repriced_entries"] == 1
    owner = world.org.headers()
    assert dec((await client.get(f"/v1/time-entries/{old['id']}", headers=owner)).json()["bill_rate"]) == dec("100")
    assert dec((await client.get(f"/v1/time-entries/{new['id']}", headers=owner)).json()["bill_rate"]) == dec("110")
    dated = await client.put(
        f"/v1/projects/{world.project_id}/rates",
        json={"rates": [{"role": "designer", "hourly_rate": "130", "valid_from": "2026-02-10"}]},
        headers=world.paula.headers(),
    )
    assert dated.status_code == 200
    assert dec((await client.get(f"/v1/time-entries/{new['id']}", headers=owner)).json()["bill_rate"]) == dec("130")
    by_pm_elsewhere = await client.put(
        f"/v1/projects/{world.other_project_id}/rates", json={"rates": []}, headers=world.paula.headers()
    )
    assert by_pm_elsewhere.status_code == 403


async def test_expenses_markup_approval_and_own_only(client, world, sessionmaker) -> None:
    body = {
        "project_id": world.project_id,
        "spent_on": "2026-02-10",
        "category": "gpu",
        "description": "A100 spot hours for the retraining run",
        "amount": "333.33",
        "currency": "USD",
        "receipt_ref": "s3://receipts/2026/02/gpu-0210.pdf",
        "billable": True,
        "markup": "0.15",
    }
    created = await client.post("/v1/expenses", json=body, headers=world.alice.headers())
    assert created.status_code == 201, created.text
    expense = created.json()
    # 333.33 × 1.15 = 383.3295 → 383.33 (half-up to the cent)
    assert (expense["status"], expense["billable_amount"]) == ("submitted", "383.33")
    assert (await client.get(f"/v1/expenses/{expense['id']}", headers=world.bob.headers())).status_code == 404
    own_approval = await client.post(f"/v1/expenses/{expense['id']}/approve", headers=world.alice.headers())
    assert own_approval.status_code == 403  # staff may not approve at all
    approved = await client.post(f"/v1/expenses/{expense['id']}/approve", headers=world.paula.headers())
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    frozen = await client.patch(f"/v1/expenses/{expense['id']}", json={"amount": "1"}, headers=world.alice.headers())
    assert frozen.status_code == 409
    bad = await client.post(
        "/v1/expenses", json={**body, "currency": "XYZ", "markup": "-1"}, headers=world.alice.headers()
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/currency", "/markup"}


async def test_import_of_people_with_same_name_needs_a_mapping(client, world, sessionmaker) -> None:
    """Harvest matches people by name: two people with the same name are ambiguous until mapped by id."""
    await add_person(client, world.org, sessionmaker, name="Sam Same", email="sam1@agency.example")
    await add_person(client, world.org, sessionmaker, name="Sam Same", email="sam2@agency.example")
    code = (await client.get(f"/v1/projects/{world.project_id}", headers=world.org.headers())).json()["code"]
    csv = (
        "Date,Client,Project,Project Code,Task,Notes,Hours,First Name,Last Name\n"
        f"2026-02-02,Acme Robotics,Vision Pipeline,{code},Dev,x,1,Sam,Same\n"
    )
    dry = await client.post(
        "/v1/time-entries/imports", json={"source": "harvest", "csv": csv, "dry_run": True}, headers=world.org.headers()
    )
    assert dry.status_code == 200
    assert dry.json()["report"][0]["problems"] == ["person: 'Sam Same' matches 2 people; map it"]
    async with tenant_session(sessionmaker, world.org.id) as session:
        sam1 = (await session.execute(text("SELECT id FROM people WHERE email = 'sam1@agency.example'"))).scalar_one()
    mapped = await client.post(
        "/v1/time-entries/imports",
        json={"source": "harvest", "csv": csv, "people": {"Sam Same": str(sam1)}},
        headers=world.org.headers(),
    )
    assert mapped.status_code == 201, mapped.text
    assert mapped.json()["created"] == 1


async def test_milestone_acceptance_feeds_billing_and_respects_locks(client, world, sessionmaker) -> None:
    from persistence.milestone_store import accepted_milestones

    owner = world.org.headers()
    m = (
        await client.post(
            f"/v1/projects/{world.project_id}/milestones",
            json={"code": "M-ALPHA", "name": "Alpha", "amount": "12500", "due_date": "2026-03-31"},
            headers=owner,
        )
    ).json()
    assert (m["currency"], m["status"]) == ("USD", "planned")  # the client's currency by default
    assert (
        await client.post(f"/v1/milestones/{m['id']}/reject", json={"reason": "x"}, headers=owner)
    ).status_code == 409
    async with tenant_session(sessionmaker, world.org.id) as session:
        await lock_period(
            session,
            org_id=world.org.id,
            client_id=uuid.UUID(world.client_id),
            period="2026-02",
            period_start=datetime(2026, 1, 31, 23, tzinfo=UTC),
            period_end=datetime(2026, 2, 28, 23, tzinfo=UTC),
            invoice_id=None,
        )
    into_lock = await client.post(f"/v1/milestones/{m['id']}/accept", json={"on": "2026-02-27"}, headers=owner)
    assert into_lock.status_code == 409
    by_staff = await client.post(
        f"/v1/milestones/{m['id']}/accept", json={"on": "2026-03-02"}, headers=world.alice.headers()
    )
    assert by_staff.status_code == 403
    accepted = await client.post(
        f"/v1/milestones/{m['id']}/accept", json={"on": "2026-03-02"}, headers=world.paula.headers()
    )
    assert accepted.status_code == 200, accepted.text
    async with tenant_session(sessionmaker, world.org.id) as session:
        march = await accepted_milestones(session, uuid.UUID(world.client_id), date(2026, 3, 1), date(2026, 3, 31))
        april = await accepted_milestones(session, uuid.UUID(world.client_id), date(2026, 4, 1), date(2026, 4, 30))
    assert [(a.id, a.accepted_on, a.amount) for a in march] == [("M-ALPHA", date(2026, 3, 2), dec("12500"))]
    assert march[0].acceptance() == {"id": "M-ALPHA", "accepted_on": date(2026, 3, 2)}
    assert april == []
    assert (await client.delete(f"/v1/milestones/{m['id']}", headers=owner)).status_code == 409


async def test_budget_validation_and_concurrency(client, world) -> None:
    owner = world.org.headers()
    url = f"/v1/projects/{world.project_id}/budget"
    assert (await client.get(url, headers=owner)).status_code == 404
    bad = await client.put(
        url,
        json={
            "currency": "EUR",
            "hours": "-1",
            "alert_thresholds": ["0.5", "3"],
            "phases": [{"phase_id": str(uuid.uuid4())}],
        },
        headers=owner,
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/hours", "/alert_thresholds/1"}
    wrong_phase = await client.put(
        url, json={"currency": "EUR", "hours": "10", "phases": [{"phase_id": str(uuid.uuid4())}]}, headers=owner
    )
    assert {e["pointer"] for e in wrong_phase.json()["errors"]} == {"/currency", "/phases/0/phase_id"}
    first = await client.put(url, json={"hours": "100", "amount": "20000"}, headers=world.paula.headers())
    assert first.status_code == 200 and first.headers["etag"] == '"1"'
    assert first.json()["currency"] == "USD" and first.json()["alert_thresholds"] == ["0.5", "0.75", "0.9", "1"]
    second = await client.put(
        url, json={"hours": "120"}, headers=world.org.headers(Role.FINANCE, **{"If-Match": '"1"'})
    )
    assert second.status_code == 200 and second.headers["etag"] == '"2"'
    stale = await client.put(url, json={"hours": "130"}, headers=world.org.headers(**{"If-Match": '"1"'}))
    assert stale.status_code == 412
    assert (await client.get(url, headers=owner)).json()["hours"] == "120.00"
    other = f"/v1/projects/{world.other_project_id}/budget"
    assert (await client.put(other, json={"hours": "1"}, headers=world.paula.headers())).status_code == 403


async def test_tasks_show_logged_hours_against_their_estimate(client, world) -> None:
    task = await client.post(
        f"/v1/projects/{world.project_id}/tasks",
        json={"title": "Train detector", "estimate_hours": "10", "assignee_id": world.alice.person_id},
        headers=world.paula.headers(),
    )
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    await log(client, world.alice, world.project_id, "2026-02-02", "2.5", task_id=task_id)
    await log(client, world.alice, world.project_id, "2026-02-03", "4", task_id=task_id)
    got = (await client.get(f"/v1/tasks/{task_id}", headers=world.bob.headers())).json()
    assert (got["logged_hours"], got["remaining_hours"]) == ("6.50", "3.50")
    foreign = await client.post(
        "/v1/time-entries",
        json={"project_id": world.other_project_id, "work_date": "2026-02-03", "hours": "1", "task_id": task_id},
        headers=world.alice.headers(),
    )
    assert foreign.json()["errors"] == [{"detail": "no such task in this project", "pointer": "/task_id"}]
    assert (
        await client.post(f"/v1/projects/{world.project_id}/tasks", json={"title": "x"}, headers=world.bob.headers())
    ).status_code == 403
