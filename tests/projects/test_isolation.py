"""Tenant and role isolation of projects/time: another org's ids are 404 (before any body check), lists
never show another org's rows, and a client_viewer sees only its own client's projects' milestones."""

from __future__ import annotations

import pytest

from api.app import create_app
from core.permissions import Role
from tests.conftest import OrgHandle
from tests.projects.conftest import add_person, log, make_client, make_manager, make_project

MY_PARAMS = {"phase_id", "task_id", "milestone_id", "entry_id", "timesheet_id", "expense_id"}
MY_MODULES = {
    f"api.routes.{name}"
    for name in (
        "phases",
        "project_members",
        "tasks",
        "milestones",
        "budgets",
        "rates",
        "time_entries",
        "timesheets",
        "expenses",
        "reports",
    )
}


def my_id_routes() -> list[tuple[str, str]]:
    """Every id-taking route declared by the projects/time route modules."""
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    routes = set()
    for route in app.routes:
        for method, handler in getattr(route, "route_handler_map", {}).items():
            handler = handler[0] if isinstance(handler, tuple) else handler
            if method != "OPTIONS" and "{" in route.path and handler.fn.__module__ in MY_MODULES:
                routes.add((method, route.path))
    return sorted(routes)


ROUTES = my_id_routes()


async def seed(client, org: OrgHandle, sessionmaker) -> dict[str, str]:
    owner = org.headers()
    client_id = await make_client(client, org, "Tenant Client")
    project_id = await make_project(client, org, client_id, "ISO-1", "Isolated")
    staff = await add_person(client, org, sessionmaker, name="Iso Staff")
    await make_manager(client, org, project_id, staff.person_id)
    phase = (
        await client.post(f"/v1/projects/{project_id}/phases", json={"code": "p", "name": "P"}, headers=owner)
    ).json()
    task = (await client.post(f"/v1/projects/{project_id}/tasks", json={"title": "T"}, headers=owner)).json()
    milestone = (
        await client.post(
            f"/v1/projects/{project_id}/milestones", json={"code": "M", "name": "M", "amount": "1"}, headers=owner
        )
    ).json()
    entry = await log(client, staff, project_id, "2026-02-02", "1")
    sheet = (
        await client.post("/v1/timesheets/submit", json={"week_start": "2026-02-02"}, headers=staff.headers())
    ).json()
    expense = (
        await client.post(
            "/v1/expenses",
            json={
                "project_id": project_id,
                "spent_on": "2026-02-02",
                "category": "c",
                "description": "d",
                "amount": "1",
                "currency": "USD",
            },
            headers=staff.headers(),
        )
    ).json()
    await client.put(f"/v1/projects/{project_id}/budget", json={"hours": "10"}, headers=owner)
    return {
        "client_id": client_id,
        "project_id": project_id,
        "person_id": staff.person_id,
        "phase_id": phase["id"],
        "task_id": task["id"],
        "milestone_id": milestone["id"],
        "entry_id": entry["id"],
        "timesheet_id": sheet["id"],
        "expense_id": expense["id"],
    }


def test_the_route_list_covers_every_projects_time_route() -> None:
    params = {seg.split(":")[0].strip("{}") for _, path in ROUTES for seg in path.split("/") if seg.startswith("{")}
    assert params == MY_PARAMS | {"project_id", "person_id", "client_id"}
    assert len(ROUTES) >= 40


async def test_other_orgs_ids_answer_404_on_every_route_even_with_a_bad_body(
    client, org, other_org, sessionmaker
) -> None:
    theirs = await seed(client, other_org, sessionmaker)
    failures = []
    for method, path in ROUTES:
        url = path
        for name, value in theirs.items():
            url = url.replace("{" + name + ":uuid}", value)
        body = {"definitely": "not valid"} if method in ("POST", "PATCH", "PUT") else None
        response = await client.request(method, url, json=body, headers=org.headers())
        if response.status_code != 404 or response.headers["content-type"] != "application/problem+json":
            failures.append((method, url, response.status_code, response.text[:200]))
        elif any(v in response.text for v in theirs.values() if v not in url):
            failures.append((method, url, "leaks another id"))
    assert failures == []


async def test_lists_never_show_another_orgs_rows(client, org, other_org, sessionmaker) -> None:
    theirs = await seed(client, other_org, sessionmaker)
    await seed(client, org, sessionmaker)
    for url in ("/v1/time-entries", "/v1/timesheets", "/v1/expenses"):
        response = await client.get(url + "?limit=200", headers=org.headers())
        assert response.status_code == 200, url
        assert response.json()["items"], url
        assert not any(value in response.text for value in theirs.values()), url
    report = await client.get("/v1/reports/profitability?from=2026-01-01&to=2026-12-31", headers=org.headers())
    assert not any(value in report.text for value in theirs.values())


async def test_client_viewer_sees_and_accepts_only_its_clients_milestones(client, org, sessionmaker) -> None:
    owner = org.headers()
    viewer = org.headers(Role.CLIENT_VIEWER)
    mine = await make_project(client, org, str(org.client_id), "VIEW-1", "Viewer's")
    other_client = await make_client(client, org, "Someone Else")
    theirs = await make_project(client, org, other_client, "VIEW-2", "Not the viewer's")
    m_mine = (
        await client.post(
            f"/v1/projects/{mine}/milestones", json={"code": "A", "name": "A", "amount": "10"}, headers=owner
        )
    ).json()
    m_theirs = (
        await client.post(
            f"/v1/projects/{theirs}/milestones", json={"code": "B", "name": "B", "amount": "10"}, headers=owner
        )
    ).json()
    assert [m["id"] for m in (await client.get(f"/v1/projects/{mine}/milestones", headers=viewer)).json()["items"]] == [
        m_mine["id"]
    ]
    assert (await client.get(f"/v1/projects/{theirs}/milestones", headers=viewer)).status_code == 404
    assert (await client.get(f"/v1/milestones/{m_theirs['id']}", headers=viewer)).status_code == 404
    assert (await client.post(f"/v1/milestones/{m_theirs['id']}/accept", headers=viewer)).status_code == 404
    reject = await client.post(f"/v1/milestones/{m_theirs['id']}/reject", json={"reason": "no"}, headers=viewer)
    assert reject.status_code == 404
    accepted = await client.post(
        f"/v1/milestones/{m_mine['id']}/accept", json={"on": "2026-02-10", "note": "ok"}, headers=viewer
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["accepted_on"]) == ("accepted", "2026-02-10")
    assert (
        await client.patch(f"/v1/milestones/{m_mine['id']}", json={"amount": "5"}, headers=owner)
    ).status_code == 409
    for url in (f"/v1/projects/{mine}/tasks", f"/v1/projects/{mine}/burn", "/v1/time-entries", "/v1/expenses"):
        assert (await client.get(url, headers=viewer)).status_code == 403, url


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, True),
        (Role.ADMIN, True),
        (Role.DELIVERY_LEAD, True),
        (Role.FINANCE, True),
        (Role.PM, False),  # a pm key bound to no person manages nothing
        (Role.STAFF, False),
        (Role.CLIENT_VIEWER, False),
    ],
)
async def test_who_reads_a_projects_burn(client, org, role, allowed) -> None:
    project = await make_project(client, org, str(org.client_id), f"BURN-{role.value}", "Burn")
    response = await client.get(f"/v1/projects/{project}/burn?as_of=2026-02-01", headers=org.headers(role))
    assert response.status_code == (200 if allowed else 403), response.text
