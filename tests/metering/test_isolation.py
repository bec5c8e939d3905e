"""Tenant isolation of metering: every id-taking metering route answers 404 for another org's
{meter_id}, {budget_id} and {endpoint_id}, and lists never show another org's rows."""

from __future__ import annotations

import pytest

from api.app import create_app
from tests.metering.conftest import MeteredOrg, add_client, add_meter

METERING_PARAMS = {"meter_id", "budget_id", "endpoint_id"}


def metering_id_routes() -> list[tuple[str, str]]:
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    routes = set()
    for route in app.routes:
        for method in getattr(route, "route_handler_map", {}):
            params = {s.split(":")[0].strip("{}") for s in route.path.split("/") if s.startswith("{")}
            if method != "OPTIONS" and params and params <= METERING_PARAMS:
                routes.add((method, route.path))
    return sorted(routes)


ROUTES = metering_id_routes()


def test_every_metering_param_has_routes() -> None:
    seen = {s.split(":")[0].strip("{}") for _, path in ROUTES for s in path.split("/") if s.startswith("{")}
    assert seen == METERING_PARAMS


async def seed(mclient, handle: MeteredOrg) -> dict[str, str]:
    client_id = await add_client(mclient, handle, "iso-client")
    meter = await add_meter(mclient, handle, key="iso", name="Iso", event_type="iso", aggregation="count")
    budget = await mclient.post(
        "/v1/usage/budgets", json={"client_id": client_id, "meter": "iso", "limit": "5"}, headers=handle.headers()
    )
    endpoint = await mclient.post("/v1/webhooks", json={"url": "https://x.example/h"}, headers=handle.headers())
    assert budget.status_code == endpoint.status_code == 201
    return {"meter_id": meter["id"], "budget_id": budget.json()["id"], "endpoint_id": endpoint.json()["id"]}


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_other_orgs_metering_ids_answer_404(mclient, org, other_org, method, path) -> None:
    theirs = await seed(mclient, MeteredOrg(org=other_org))
    url = path
    for name, value in theirs.items():
        url = url.replace("{" + name + ":uuid}", value).replace("{" + name + "}", value)
    bodies = {"PATCH": {}, "POST": None}
    response = await mclient.request(method, url, json=bodies.get(method), headers=org.headers())
    assert response.status_code == 404, (method, url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert not any(value in response.text for value in theirs.values() if value not in url)


async def test_metering_lists_never_show_other_orgs_rows(mclient, org, other_org) -> None:
    theirs = await seed(mclient, MeteredOrg(org=other_org))
    for url in ("/v1/meters", "/v1/usage/budgets", "/v1/webhooks", "/v1/usage/unmatched"):
        response = await mclient.get(url + "?limit=200", headers=org.headers())
        assert response.status_code == 200, url
        assert response.json()["items"] == [], url
        assert not any(v in response.text for v in theirs.values())
