"""Bad input: each case is a problem+json naming the bad field, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.permissions import Role
from persistence.db import tenant_session
from persistence.models import Client
from tests.conftest import OrgHandle

GOOD = {"name": "Acme", "external_key": "acme", "currency": "EUR", "timezone": "Europe/Paris"}


async def client_count(sessionmaker, org: OrgHandle) -> int:
    async with tenant_session(sessionmaker, org.id) as session:
        return (await session.execute(select(func.count()).select_from(Client))).scalar_one()


def pointers(response) -> dict[str, str]:
    return {e["pointer"]: e["detail"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**GOOD, "name": 42}, {"/name": "Expected `str`, got `int`"}),
        ({**GOOD, "color": "red"}, {"/color": "unknown field"}),
        (
            {"name": "Acme"},
            {
                "/external_key": "required field is missing",
                "/currency": "required field is missing",
                "/timezone": "required field is missing",
            },
        ),
        ({**GOOD, "currency": "EURO"}, {"/currency": "Expected `str` matching regex '^[A-Z]{3}$'"}),
        ({**GOOD, "currency": "XYZ"}, {"/currency": "'XYZ' is not an ISO 4217 currency code"}),
        ({**GOOD, "timezone": "Mars/Olympus"}, {"/timezone": "'Mars/Olympus' is not an IANA time zone"}),
        ({**GOOD, "tax": {"rate": "1.5"}}, {"/tax/rate": "must be <= 1"}),
        (
            {**GOOD, "billing_address": {"line1": "x", "city": 3}},
            {
                "/billing_address/city": "Expected `str`, got `int`",
                "/billing_address/country": "required field is missing",
            },
        ),
    ],
)
async def test_invalid_client_body_names_every_bad_field(client, org, sessionmaker, body, expected) -> None:
    before = await client_count(sessionmaker, org)
    response = await client.post("/v1/clients", json=body, headers=org.headers())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert pointers(response) == expected
    assert await client_count(sessionmaker, org) == before


async def test_all_errors_are_reported_at_once(client, org) -> None:
    body = {"name": "", "external_key": "bad key!", "currency": "XYZ", "timezone": "Nowhere", "extra": True}
    response = await client.post("/v1/clients", json=body, headers=org.headers())
    assert response.status_code == 422
    assert set(pointers(response)) == {"/name", "/external_key", "/currency", "/timezone", "/extra"}


async def test_malformed_json_is_400(client, org, sessionmaker) -> None:
    before = await client_count(sessionmaker, org)
    response = await client.post(
        "/v1/clients", content=b'{"name": "Acme",', headers=org.headers(**{"Content-Type": "application/json"})
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")
    assert await client_count(sessionmaker, org) == before


async def test_non_json_content_type_is_415(client, org) -> None:
    response = await client.post(
        "/v1/clients",
        content=b"name=Acme",
        headers=org.headers(**{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_oversized_body_is_413(client, org, sessionmaker) -> None:
    before = await client_count(sessionmaker, org)
    huge = {**GOOD, "name": "x" * (2 * 1024 * 1024)}
    response = await client.post("/v1/clients", json=huge, headers=org.headers())
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await client_count(sessionmaker, org) == before


async def test_bad_query_parameter_names_the_parameter(client, org) -> None:
    response = await client.get("/v1/clients?limit=abc", headers=org.headers())
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "limit"
    response = await client.get("/v1/clients?limit=500", headers=org.headers())
    assert response.status_code == 400
    response = await client.get("/v1/clients?cursor=!!", headers=org.headers())
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "cursor"


async def test_bad_path_id_is_404_problem(client, org) -> None:
    response = await client.get("/v1/clients/not-a-uuid", headers=org.headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_project_end_before_start_is_422(client, org) -> None:
    created = await client.post("/v1/clients", json={**GOOD, "external_key": "dates"}, headers=org.headers())
    body = {
        "client_id": created.json()["id"],
        "code": "P1",
        "name": "P",
        "billing_mode": "t_and_m",
        "start_date": "2026-05-01",
        "end_date": "2026-04-01",
    }
    response = await client.post("/v1/projects", json=body, headers=org.headers())
    assert response.status_code == 422
    assert pointers(response) == {"/end_date": "end date is before start date"}


async def test_person_numbers_out_of_range(client, org) -> None:
    body = {
        "name": "P",
        "email": "p@x.example",
        "role": "dev",
        "cost_rate": "-1",
        "cost_currency": "USD",
        "weekly_capacity_hours": "200",
        "utilization_target": "1.2",
    }
    response = await client.post("/v1/people", json=body, headers=org.headers(Role.ADMIN))
    assert response.status_code == 422
    assert set(pointers(response)) == {"/cost_rate", "/weekly_capacity_hours", "/utilization_target"}


def test_the_field_report_accepts_integer_keys_as_json_does_and_names_only_the_bad_field() -> None:
    # Found by the fuzzer: a body with one bad field also had its valid {"3": …} map (dict[int, …]) reported
    # as "Expected `int`, got `str`", though the JSON decoder itself takes such keys.
    import msgspec as _msgspec

    from api.decoding import decode_json
    from api.problems import ValidationFailed
    from workflows.capacity_inputs import WeightsIn

    good = decode_json(b'{"priority_multipliers": {"3": "1.5"}}', WeightsIn)
    assert good.priority_multipliers == {3: _msgspec.convert("1.5", type=__import__("decimal").Decimal, strict=False)}
    try:
        decode_json(b'{"priority_multipliers": {"3": "1.5"}, "nope": 1}', WeightsIn)
    except ValidationFailed as exc:
        assert [e.pointer for e in exc.errors] == ["/nope"]
    else:
        raise AssertionError("an unknown field must be refused")


async def test_an_integer_field_accepts_an_integral_number_as_json_schema_does(client, org) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: ``52.0`` is an integer to JSON Schema (and to most JSON writers); ``52.5`` is not."""
    body = {"name": "Terms", "external_key": "terms-52", "currency": "USD", "timezone": "UTC"}
    created = await client.post("/v1/clients", json={**body, "payment_terms_days": 52.0}, headers=org.headers())
    assert created.status_code == 201, created.text
    assert created.json()["payment_terms_days"] == 52
    bad = await client.patch(
        f"/v1/clients/{created.json()['id']}", json={"payment_terms_days": 52.5}, headers=org.headers()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"detail": "Expected `int | null`, got `float`", "pointer": "/payment_terms_days"}]
