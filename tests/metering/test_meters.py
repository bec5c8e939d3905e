"""Meters: validation of every field, immutability of the definition, archiving, isolation."""

from __future__ import annotations

from core.permissions import Role
from tests.metering.conftest import add_meter, event, post_batch


async def test_meter_round_trip_shows_dotted_paths_and_dimensions(mclient, metered) -> None:
    meter = metered.meters["documents"]
    got = await mclient.get(f"/v1/meters/{meter['id']}", headers=metered.headers())
    assert got.status_code == 200
    body = got.json()
    assert body["value_path"] == "usage.pages"
    assert body["group_by"] == {"category": "category"}
    assert body["site_path"] == "site"
    assert body["aggregation"] == "sum"
    assert got.headers["etag"] == '"1"'
    listed = await mclient.get("/v1/meters?limit=200", headers=metered.headers())
    assert {m["key"] for m in listed.json()["items"]} == {"tokens", "requests", "peak", "users", "seats", "documents"}


async def test_meter_validation_names_every_bad_field(mclient, metered) -> None:
    bad = {
        "key": "Bad Key",
        "name": "",
        "event_type": "x",
        "aggregation": "median",
        "value_path": "a..b",
        "group_by": {"site": "s", "Bad": "x", "a": "a", "b": "b", "c": "c", "d": "d"},
    }
    response = await mclient.post("/v1/meters", json=bad, headers=metered.headers())
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/key", "/name", "/aggregation", "/value_path"} <= pointers


async def test_group_by_rules(mclient, metered) -> None:
    base = {"key": "g", "name": "G", "event_type": "g", "aggregation": "count"}
    too_many = await mclient.post(
        "/v1/meters", json={**base, "group_by": {f"d{i}": f"d{i}" for i in range(5)}}, headers=metered.headers()
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["pointer"] == "/group_by"
    site = await mclient.post("/v1/meters", json={**base, "group_by": {"site": "site"}}, headers=metered.headers())
    assert site.status_code == 422
    assert site.json()["errors"][0]["pointer"] == "/group_by/site"


async def test_value_path_must_match_the_aggregation(mclient, metered) -> None:
    count_with_path = {"key": "c1", "name": "C", "event_type": "c", "aggregation": "count", "value_path": "n"}
    response = await mclient.post("/v1/meters", json=count_with_path, headers=metered.headers())
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": "/value_path", "detail": "a count meter counts events; it takes no value_path"}
    ]
    sum_without = {"key": "s1", "name": "S", "event_type": "c", "aggregation": "sum"}
    response = await mclient.post("/v1/meters", json=sum_without, headers=metered.headers())
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/value_path"


async def test_meter_key_is_unique_per_org(mclient, metered, other_org) -> None:
    body = {"key": "tokens", "name": "again", "event_type": "x", "aggregation": "count"}
    assert (await mclient.post("/v1/meters", json=body, headers=metered.headers())).status_code == 409
    assert (await mclient.post("/v1/meters", json=body, headers=other_org.headers())).status_code == 201


async def test_definition_is_immutable_but_name_and_status_change(mclient, metered) -> None:
    meter = metered.meters["tokens"]
    url = f"/v1/meters/{meter['id']}"
    refused = await mclient.patch(url, json={"value_path": "other"}, headers=metered.headers())
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"pointer": "/value_path", "detail": "unknown field"}]
    renamed = await mclient.patch(
        url, json={"name": "Tokens (all models)"}, headers=metered.headers(**{"If-Match": '"1"'})
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Tokens (all models)"
    assert renamed.json()["value_path"] == "tokens"
    stale = await mclient.patch(url, json={"name": "x"}, headers=metered.headers(**{"If-Match": '"1"'}))
    assert stale.status_code == 412


async def test_archived_meter_stops_matching_new_events(mclient, metered) -> None:
    await add_meter(mclient, metered, key="pages", name="Pages", event_type="pages.read", aggregation="count")
    meter = metered.meters["pages"]
    first = await post_batch(mclient, metered, [event(type="pages.read", data={"site": "berlin"})])
    assert first["results"][0] == {"index": 0, "status": "accepted"}
    archived = await mclient.patch(f"/v1/meters/{meter['id']}", json={"status": "archived"}, headers=metered.headers())
    assert archived.status_code == 200
    second = await post_batch(mclient, metered, [event(type="pages.read", data={"site": "berlin"})])
    assert second["results"][0] == {"index": 0, "status": "accepted", "unmatched": "no_meter"}


async def test_other_orgs_meter_is_404_and_roles_are_enforced(mclient, metered, other_org) -> None:
    meter = metered.meters["tokens"]
    assert (await mclient.get(f"/v1/meters/{meter['id']}", headers=other_org.headers())).status_code == 404
    assert (
        await mclient.patch(f"/v1/meters/{meter['id']}", json={"name": "x"}, headers=other_org.headers())
    ).status_code == 404
    viewer = metered.org.headers(Role.CLIENT_VIEWER)
    assert (await mclient.get("/v1/meters", headers=viewer)).status_code == 403
    pm = metered.org.headers(Role.PM)
    body = {"key": "pm", "name": "PM", "event_type": "x", "aggregation": "count"}
    assert (await mclient.post("/v1/meters", json=body, headers=pm)).status_code == 403
