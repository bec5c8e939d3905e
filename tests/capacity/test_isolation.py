"""Tenant isolation of capacity plans: every ``{plan_id}`` route answers 404 for another org's plan (before
any body check), lists never show it, and planning with another org's projects or people is 404 too."""

from __future__ import annotations

from api.app import create_app
from core.permissions import Role
from tests.capacity.conftest import make_team, team_request, wait_for


def plan_id_routes() -> list[tuple[str, str]]:
    """Every route of ``api.routes.capacity`` that takes a ``plan_id``."""
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    routes = set()
    for route in app.routes:
        for method, handler in getattr(route, "route_handler_map", {}).items():
            handler = handler[0] if isinstance(handler, tuple) else handler
            if method != "OPTIONS" and "{plan_id" in route.path and handler.fn.__module__ == "api.routes.capacity":
                routes.add((method, route.path))
    return sorted(routes)


ROUTES = plan_id_routes()


def test_every_plan_route_is_covered() -> None:
    assert {path.rsplit("/", 1)[-1] for _, path in ROUTES} == {"{plan_id:uuid}", "cancel", "what-if", "publish"}


async def test_another_orgs_plan_is_not_found_on_every_route(stack, org, other_org) -> None:
    team = await make_team(stack.client, org)
    created = await stack.client.post(
        "/v1/capacity/plans", json=team_request(team, time_limit=1), headers=org.headers(Role.DELIVERY_LEAD)
    )
    assert created.status_code == 202, created.text
    plan_id = created.json()["id"]
    await wait_for(stack.client, org, plan_id, {"done"})
    theirs = other_org.headers(Role.OWNER)
    for method, path in ROUTES:
        url = path.replace("{plan_id:uuid}", plan_id)
        body = {"kind": "drop", "project_id": team.ml} if url.endswith("what-if") else None
        response = await stack.client.request(method, url, json=body, headers=theirs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert team.ml not in response.text and team.web not in response.text
    # An invalid body still answers 404 first: the id is checked before the body is.
    response = await stack.client.post(f"/v1/capacity/plans/{plan_id}/what-if", json={"kind": "hire"}, headers=theirs)
    assert response.status_code == 404
    listed = await stack.client.get("/v1/capacity/plans", headers=theirs)
    assert plan_id not in {item["id"] for item in listed.json()["items"]}
    # The plan is untouched and still the owner's.
    mine = await stack.client.get(f"/v1/capacity/plans/{plan_id}", headers=org.headers(Role.PM))
    assert mine.status_code == 200 and mine.json()["published_at"] is None


async def test_planning_with_another_orgs_projects_or_people_is_not_found(stack, org, other_org) -> None:
    team = await make_team(stack.client, org)
    other_team = await make_team(stack.client, other_org)
    lead = org.headers(Role.DELIVERY_LEAD)
    foreign = await stack.client.post("/v1/capacity/plans", json=team_request(other_team), headers=lead)
    assert foreign.status_code == 404 and other_team.web in foreign.json()["detail"]
    for field in ("named", "pin", "team", "settings"):
        body = team_request(team)
        if field == "named":
            body["projects"][1]["demand"][1]["person_id"] = other_team.ada
        elif field == "pin":
            body["pins"] = [{"person_id": other_team.ada, "project_id": team.web, "kind": "must"}]
        elif field == "team":
            body["projects"][0]["existing_team"] = [other_team.ada]
        else:
            body["person_settings"] = [{"person_id": other_team.ada, "max_concurrent_projects": 1}]
        refused = await stack.client.post("/v1/capacity/plans", json=body, headers=lead)
        assert refused.status_code == 404, (field, refused.text)
        assert other_team.ada in refused.json()["detail"]
