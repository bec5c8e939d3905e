"""HTTP conventions the OpenAPI document promises, kept by the server (regressions of issue 13, item 12)."""

from __future__ import annotations

import pytest

from api.query_contract import problem_with


def _client_body(key: str) -> dict[str, str]:
    return {"name": "Acme", "external_key": key, "currency": "EUR", "timezone": "Europe/Berlin"}


async def test_if_match_uses_the_strong_comparison_so_a_weak_tag_is_412(client, org) -> None:
    created = await client.post("/v1/clients", json=_client_body("strong-1"), headers=org.headers())
    url = f"/v1/clients/{created.json()['id']}"
    weak = await client.patch(url, json={"name": "Weak"}, headers=org.headers(**{"If-Match": 'W/"1"'}))
    assert weak.status_code == 412
    assert (await client.get(url, headers=org.headers())).json()["name"] == "Acme"
    strong = await client.patch(url, json={"name": "Strong"}, headers=org.headers(**{"If-Match": '"1"'}))
    assert strong.status_code == 200
    assert strong.headers["etag"] == '"2"'


async def test_if_none_match_uses_the_weak_comparison(client, org) -> None:
    created = await client.post("/v1/clients", json=_client_body("weak-1"), headers=org.headers())
    url = f"/v1/clients/{created.json()['id']}"
    answer = await client.get(url, headers=org.headers(**{"If-None-Match": 'W/"1"'}))
    assert answer.status_code == 304
    assert answer.content == b""


async def test_idempotent_replay_repeats_the_first_answers_etag_and_location(client, org) -> None:
    headers = org.headers(**{"Idempotency-Key": "replay-headers-1"})
    first = await client.post("/v1/clients", json=_client_body("replay-1"), headers=headers)
    second = await client.post("/v1/clients", json=_client_body("replay-1"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"] == f"/v1/clients/{first.json()['id']}"
    assert second.headers["etag"] == first.headers["etag"] == '"1"'
    assert second.json() == first.json()


@pytest.mark.parametrize(
    "query",
    ["until=null", "until=1", "until=1700000000", "until=2026-01-01T00:00:00", "since=2026", "limit=5.0"],
)
async def test_junk_query_values_are_400_naming_the_parameter(client, org, query) -> None:
    answer = await client.get(f"/v1/audit-log?{query}", headers=org.headers())
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["parameter"] == query.split("=")[0]


async def test_a_scalar_query_parameter_given_twice_is_400(client, org) -> None:
    answer = await client.get("/v1/audit-log?limit=5&limit=6", headers=org.headers())
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"parameter": "limit", "detail": "given more than once"}]


async def test_well_formed_query_values_still_filter(client, org) -> None:
    answer = await client.get(
        "/v1/audit-log?since=2026-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B01:00&limit=5", headers=org.headers()
    )
    assert answer.status_code == 200


def test_query_rules_read_the_documented_schema() -> None:
    instant = {"type": "string", "format": "date-time"}
    assert problem_with("2026-11-01T00:00:00Z", instant) is None
    assert problem_with("2026-11-01T00:00:00", instant) is not None
    assert problem_with("2026-02-30", {"type": "string", "format": "date"}) == "not a valid date"
    assert problem_with("201", {"type": "integer", "minimum": 1, "maximum": 200}) == "must be at most 200"
    assert problem_with("x", {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["x"]}]}) is None


async def test_an_empty_idempotency_key_is_400_even_on_a_dry_run_import(client, org) -> None:
    body = {"source": "toggl", "csv": "x\n", "dry_run": True}
    answer = await client.post("/v1/time-entries/imports", json=body, headers=org.headers(**{"Idempotency-Key": ""}))
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"parameter": "Idempotency-Key", "detail": "must be at least 1 characters"}]


async def test_an_expense_amount_too_large_to_round_is_422_not_500(client, org) -> None:
    project = await client.post(
        "/v1/projects",
        json={"client_id": str(org.client_id), "code": "HUGE-1", "name": "Huge", "billing_mode": "mixed"},
        headers=org.headers(),
    )
    body = {
        "project_id": project.json()["id"],
        "category": "gpu",
        "amount": "8856190.1861337E+2087",
        "currency": "USD",
        "spent_on": "2026-01-05",
        "description": "a fuzzer's amount",
    }
    answer = await client.post("/v1/expenses", json=body, headers=org.headers())
    assert answer.status_code == 422
    assert [error["pointer"] for error in answer.json()["errors"]] == ["/amount"]
