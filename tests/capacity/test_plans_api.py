"""Capacity plans through the API: built from the org's people, solved by the real workflow on a real worker,
checked by the independent checker, cancelled mid-solve, what-ifs, publishing, tenancy and roles."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from sqlalchemy import text

from core.permissions import Role
from scheduling import Instance, Plan, check_plan, dump_instance, generate
from tests.capacity.conftest import Stack, add_person, make_team, team_request, wait_for


async def create(stack: Stack, org: Any, body: dict[str, Any], role: Role = Role.DELIVERY_LEAD) -> dict[str, Any]:
    response = await stack.client.post("/v1/capacity/plans", json=body, headers=org.headers(role))
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/capacity/plans/{response.json()['id']}"
    doc: dict[str, Any] = response.json()
    return doc


async def stored_instance(admin_engine: Any, plan_id: str) -> Instance:
    async with admin_engine.connect() as conn:
        raw = (await conn.execute(text("SELECT instance FROM capacity_plans WHERE id = :id"), {"id": plan_id})).scalar()
    return msgspec.convert(raw, Instance, strict=False)


async def test_plan_from_org_data_is_solved_checked_and_explains_unmet_demand(stack, org, admin_engine) -> None:
    team = await make_team(stack.client, org)
    created = await create(stack, org, team_request(team))
    assert created["status"] == "queued"
    assert created["workflow_id"] == f"capacity/{org.id}/{created['id']}"

    doc = await wait_for(stack.client, org, created["id"], {"done"})
    plan = msgspec.convert(doc["plan"], Plan, strict=False)
    instance = await stored_instance(admin_engine, created["id"])
    report = check_plan(instance, plan)
    assert report.ok, report.violations
    assert doc["check"]["ok"] is True
    # The instance is the org's people and the requested demand: 4 people, 2 projects, 6 + 4 + 2 + 5 + 2 lines.
    assert {p.id for p in instance.people} == {team.ada, team.bob, team.cy, team.dee}
    assert len(instance.demand) == 19
    dee = next(p for p in instance.people if p.id == team.dee)
    assert dee.weekly_capacity_hours == 32 and len(dee.time_off) == 1
    assert plan.bound >= plan.objective and 0 <= plan.gap < 1
    assert plan.objective >= plan.stats.greedy_objective - 1e-6
    # Nobody has rust: both weeks are unmet for that reason.
    rust = [u for u in plan.unmet if u.skill == "rust"]
    assert [(u.week, u.reason, u.unmet_hours) for u in sorted(rust, key=lambda u: u.week)] == [
        (2, "no_skill", 8.0),
        (3, "no_skill", 8.0),
    ]
    # Dee is away in week 3: nothing of hers that week.
    assert not [a for a in plan.allocations if a.person_id == team.dee and a.week == 3]
    assert doc["progress"]["phase"] == "done" and doc["progress"]["best_objective"] == pytest.approx(plan.objective)
    assert doc["attempts"] == 1 and doc["started_at"] and doc["finished_at"]
    assert doc["stage"] is None  # finished: no workflow query
    assert doc["start_date"] == "2026-01-05" and doc["weeks"] == 6
    assert sorted(doc["project_ids"]) == sorted([team.web, team.ml])

    listed = await stack.client.get("/v1/capacity/plans?status=done", headers=org.headers(Role.PM))
    assert listed.status_code == 200
    summary = next(item for item in listed.json()["items"] if item["id"] == created["id"])
    assert summary["objective"] == pytest.approx(plan.objective) and summary["gap"] == pytest.approx(plan.gap)


async def test_cancel_mid_solve_keeps_the_best_plan_so_far(stack, org, admin_engine) -> None:
    instance = generate(60, 24, 8, seed=11)
    body = {"name": "big", "instance": msgspec.json.decode(dump_instance(instance)), "solve": {"time_limit_s": 120}}
    created = await create(stack, org, body)
    solving = await wait_for(stack.client, org, created["id"], {"solving"})
    # Wait until the solver reported a plan, then cancel.
    for _ in range(100):
        if solving["progress"] and solving["progress"].get("best_objective") is not None:
            break
        await asyncio.sleep(0.2)
        solving = await wait_for(stack.client, org, created["id"], {"solving"})
    assert solving["stage"] == "solving"  # the workflow's own view, by query
    started = asyncio.get_running_loop().time()
    cancel = await stack.client.post(
        f"/v1/capacity/plans/{created['id']}/cancel", headers=org.headers(Role.DELIVERY_LEAD)
    )
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancel_requested_at"]
    doc = await wait_for(stack.client, org, created["id"], {"cancelled"}, within=30)
    assert asyncio.get_running_loop().time() - started < 20  # far below the 120 s limit
    plan = msgspec.convert(doc["plan"], Plan, strict=False)
    assert plan.status == "cancelled" and plan.stop_reason == "cancelled"
    assert plan.allocations and plan.objective > 0
    assert check_plan(instance, plan).ok
    # A finished plan cannot be cancelled again.
    again = await stack.client.post(f"/v1/capacity/plans/{created['id']}/cancel", headers=org.headers(Role.OWNER))
    assert again.status_code == 409


async def allocations_in_db(admin_engine: Any, org_id: Any) -> dict[tuple[str, str, str], Decimal]:
    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT person_id, project_id, week_start, hours, plan_id FROM capacity_allocations WHERE org_id = :org"
            ),
            {"org": org_id},
        )
        return {(str(r.person_id), str(r.project_id), r.week_start.isoformat()): r.hours for r in rows}


def expected_allocations(doc: dict[str, Any]) -> dict[tuple[str, str, str], Decimal]:
    from datetime import date, timedelta

    start = date.fromisoformat(doc["start_date"])
    hours: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for a in doc["plan"]["allocations"]:
        week = (start + timedelta(days=7 * a["week"])).isoformat()
        hours[(a["person_id"], a["project_id"], week)] += Decimal(str(a["hours"]))
    return dict(hours)


async def test_publish_writes_allocations_replaces_older_and_refuses_stale_plans(stack, org, admin_engine) -> None:
    team = await make_team(stack.client, org)
    older = await create(stack, org, team_request(team, time_limit=2))
    newer = await create(stack, org, team_request(team, time_limit=2, web_rate="210"))
    older_doc = await wait_for(stack.client, org, older["id"], {"done"})
    newer_doc = await wait_for(stack.client, org, newer["id"], {"done"})
    lead = org.headers(Role.DELIVERY_LEAD)

    first = await stack.client.post(f"/v1/capacity/plans/{older['id']}/publish", headers=lead)
    assert first.status_code == 200, first.text
    assert first.json()["replaced"] == 0 and not first.json()["already_published"]
    assert await allocations_in_db(admin_engine, org.id) == expected_allocations(older_doc)

    second = await stack.client.post(f"/v1/capacity/plans/{newer['id']}/publish", headers=lead)
    assert second.status_code == 200, second.text
    published = second.json()
    assert published["replaced"] == first.json()["allocations"]
    assert published["allocations"] == len(expected_allocations(newer_doc))
    assert await allocations_in_db(admin_engine, org.id) == expected_allocations(newer_doc)

    # Publishing the newer plan again changes nothing; the older plan is now stale.
    replay = await stack.client.post(f"/v1/capacity/plans/{newer['id']}/publish", headers=lead)
    assert replay.status_code == 200 and replay.json()["already_published"] is True
    stale = await stack.client.post(f"/v1/capacity/plans/{older['id']}/publish", headers=lead)
    assert stale.status_code == 409, stale.text
    assert stale.json()["extra"]["newer_plan_id"] == newer["id"]
    assert await allocations_in_db(admin_engine, org.id) == expected_allocations(newer_doc)

    async with admin_engine.connect() as conn:
        audited = (
            await conn.execute(
                text("SELECT entity_id FROM audit_log WHERE org_id = :org AND action = 'capacity_plan.publish'"),
                {"org": org.id},
            )
        ).scalars()
        assert sorted(audited) == sorted([older["id"], newer["id"]])


async def test_what_ifs_are_new_plans_with_a_diff(stack, org, admin_engine) -> None:
    team = await make_team(stack.client, org)
    base = await create(stack, org, team_request(team, time_limit=2))
    await wait_for(stack.client, org, base["id"], {"done"})
    lead = org.headers(Role.DELIVERY_LEAD)

    hire = await stack.client.post(
        f"/v1/capacity/plans/{base['id']}/what-if",
        json={"kind": "hire", "person": {"name": "Rusty", "skills": {"rust": 3}, "cost_rate": "40"}},
        headers=lead,
    )
    assert hire.status_code == 202, hire.text
    assert hire.json()["kind"] == "what_if" and hire.json()["base_plan_id"] == base["id"]
    doc = await wait_for(stack.client, org, hire.json()["id"], {"done"})
    assert doc["check"]["ok"] is True
    # The hire staffs the rust line nobody could: 16 h less unmet on the web project.
    assert doc["diff"]["unmet_delta_by_project"][team.web] == pytest.approx(-16.0)
    assert any(a["person_id"] == "hire-1" for a in doc["plan"]["allocations"])
    refused = await stack.client.post(f"/v1/capacity/plans/{hire.json()['id']}/publish", headers=lead)
    assert refused.status_code == 409 and "hire-1" in refused.json()["detail"]

    drop = await stack.client.post(
        f"/v1/capacity/plans/{base['id']}/what-if", json={"kind": "drop", "project_id": team.ml}, headers=lead
    )
    assert drop.status_code == 202, drop.text
    dropped = await wait_for(stack.client, org, drop.json()["id"], {"done"})
    assert all(a["project_id"] != team.ml for a in dropped["plan"]["allocations"])
    assert sorted(dropped["project_ids"]) == sorted([team.web, team.ml])  # publishing clears the dropped project

    confirmed = await stack.client.post(
        f"/v1/capacity/plans/{base['id']}/what-if", json={"kind": "drop", "project_id": team.web}, headers=lead
    )
    assert confirmed.status_code == 422
    assert confirmed.json()["errors"] == [
        {"pointer": "/project_id", "detail": "confirmed; only tentative projects can be dropped"}
    ]


async def test_roles_delivery_lead_plans_staff_and_pm_cannot(stack, org) -> None:
    team = await make_team(stack.client, org)
    body = team_request(team, time_limit=1)
    for role in (Role.STAFF, Role.PM, Role.FINANCE, Role.CLIENT_VIEWER):
        response = await stack.client.post("/v1/capacity/plans", json=body, headers=org.headers(role))
        assert response.status_code == 403, (role, response.text)
    created = await create(stack, org, body, Role.DELIVERY_LEAD)
    await wait_for(stack.client, org, created["id"], {"done"})
    plan = f"/v1/capacity/plans/{created['id']}"
    assert (await stack.client.get(plan, headers=org.headers(Role.PM))).status_code == 200
    assert (await stack.client.get(plan, headers=org.headers(Role.STAFF))).status_code == 403
    assert (await stack.client.post(f"{plan}/publish", headers=org.headers(Role.STAFF))).status_code == 403
    assert (await stack.client.post(f"{plan}/publish", headers=org.headers(Role.PM))).status_code == 403


async def test_bad_requests_name_every_field(stack, org) -> None:
    team = await make_team(stack.client, org)
    body = team_request(team)
    body["start"] = "2026-01-06"  # a Tuesday
    body["projects"][0]["demand"][0]["hours"] = "10"  # not whole 4 h blocks
    body["projects"][0]["demand"][1]["until_week"] = 9  # beyond 6 weeks
    body["projects"][1]["demand"][0]["person_id"] = team.dee  # skill and person
    body["projects"][1]["probability"] = "1.5"
    body["pins"] = [{"person_id": team.ada, "project_id": team.dee, "kind": "must"}]
    response = await stack.client.post("/v1/capacity/plans", json=body, headers=org.headers(Role.DELIVERY_LEAD))
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {
        "/start",
        "/projects/0/demand/0/hours",
        "/projects/0/demand/1/until_week",
        "/projects/1/demand/0",
        "/projects/1/probability",
        "/pins/0/project_id",
    }
    # An explicit instance is validated by the solver's own rules.
    broken = msgspec.json.decode(dump_instance(generate(3, 2, 2, seed=1)))
    broken["demand"][0]["hours"] = 5
    response = await stack.client.post(
        "/v1/capacity/plans", json={"instance": broken}, headers=org.headers(Role.DELIVERY_LEAD)
    )
    assert response.status_code == 422
    assert "not a multiple of the 4 h block" in response.json()["errors"][0]["detail"]


async def test_a_project_without_a_rate_and_a_person_paid_in_euros_are_planned_with_stated_assumptions(
    stack, org, admin_engine
) -> None:
    # Issue 19: this used to answer 422 "no USD rate on the rate card" and leave the EUR person out silently.
    team = await make_team(stack.client, org)
    eve = await add_person(stack.client, org, "Eve", {"ml": 5}, cost_rate="65", currency="EUR")
    body = team_request(team, time_limit=2.0)
    del body["projects"][1]["bill_rate"]
    created = await create(stack, org, body)
    doc = await wait_for(stack.client, org, created["id"], {"done"})
    instance = await stored_instance(admin_engine, created["id"])

    ml = next(p for p in instance.projects if p.id == team.ml)
    assert ml.bill_rate == 0
    people = {p.id: p for p in instance.people}
    assert eve in people
    # Median of the USD cost rates 55, 60, 70, 80 (upper median).
    assert people[eve].cost_rate == 70
    notes = " | ".join(doc["notes"])
    assert "no bill_rate given and no rate card in USD: planned at bill rate 0 (cost and priority only)" in notes
    assert "Eve is paid in EUR, not USD, and there are no FX rates: planned at the median USD cost rate" in notes
    assert doc["check"]["ok"] is True


async def test_required_and_valued_demand_lines_reach_the_planner_through_the_api(stack, org, admin_engine) -> None:
    # Issue 19, item 6: internal work (no bill rate) can be required, or carry an explicit value per hour.
    team = await make_team(stack.client, org)
    body = team_request(team, time_limit=2.0)
    del body["projects"][1]["bill_rate"]
    body["projects"][1]["demand"][0]["required"] = True
    body["projects"][1]["demand"][1]["value_per_hour"] = "95"
    created = await create(stack, org, body)
    doc = await wait_for(stack.client, org, created["id"], {"done"})
    instance = await stored_instance(admin_engine, created["id"])
    ml_lines = [d for d in instance.demand if d.project_id == team.ml]
    assert {d.required for d in ml_lines if d.role == "ml"} == {True}
    assert {d.value_per_hour for d in ml_lines if d.role == "lead"} == {95.0}
    assert {d.required for d in ml_lines if d.role == "lead"} == {False}
    assert doc["check"]["ok"] is True
