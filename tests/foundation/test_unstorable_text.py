"""Text PostgreSQL cannot store (U+0000, lone UTF-16 surrogates) is refused at the API edge, naming the field.

The routes and their fields come from the OpenAPI document, so a new route or field is covered without
touching this file: every string field of every JSON request body gets NUL and a lone surrogate (422 naming
the field's pointer), and every query parameter of every GET gets NUL (400 naming the parameter). Before the
one decoding rule (``api.validators.unstorable``), these answered 500 on clients, people, meters, webhooks,
tasks, time entries, expenses, api-keys and list filters.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from api.app import openapi_document
from api.decoding import decode_json
from api.problems import ValidationFailed
from api.routes.clients import ClientCreate
from api.validators import unstorable
from persistence.db import tenant_session
from persistence.models import Client
from tests.conftest import OrgHandle, make_org

DOCUMENT = openapi_document()
NUL = "a\x00b"
SURROGATE = "a\ud800b"
# The events endpoint reads CloudEvents itself and rejects U+0000 per event with reason ``bad_character``
# (tests/metering/test_ingest.py); its body is not a plain object of fields.
OWN_DECODER = {("POST", "/v1/events")}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def string_fields(schema: dict[str, Any], depth: int = 0) -> list[tuple[str, Any]]:
    """(JSON pointer, body holding a placeholder string exactly there) for every string field reachable in
    ``schema``: object properties, array items, map values and each alternative of a union."""
    schema = _resolve(schema)
    if depth > 6:
        return []
    found: list[tuple[str, Any]] = []
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        found += string_fields(alternative, depth + 1)
    kinds = _types(schema)
    if "string" in kinds:
        found.append(("", "PLACEHOLDER"))
    if "object" in kinds or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            token = name.replace("~", "~0").replace("/", "~1")
            found += [(f"/{token}{ptr}", {name: body}) for ptr, body in string_fields(sub, depth + 1)]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            found += [(f"/k{ptr}", {"k": body}) for ptr, body in string_fields(extra, depth + 1)]
    if "array" in kinds and isinstance(schema.get("items"), dict):
        found += [(f"/0{ptr}", [body]) for ptr, body in string_fields(schema["items"], depth + 1)]
    unique: dict[str, Any] = {}
    for pointer, body in found:
        unique.setdefault(pointer, body)
    return list(unique.items())


def _place(body: Any, text: str) -> Any:
    if body == "PLACEHOLDER":
        return text
    if isinstance(body, dict):
        return {key: _place(value, text) for key, value in body.items()}
    return [_place(value, text) for value in body]


def _concrete(path: str, ids: dict[str, str] | None = None) -> str:
    """Path parameters name real resources where the route looks its parent up before reading the body;
    any other gets a random UUID."""
    ids = ids or {}
    parts = [ids.get(p[1:-1].split(":")[0], str(uuid.uuid4())) if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


@dataclass
class Existing:
    org: OrgHandle
    ids: dict[str, str]


async def _created(http, org: OrgHandle, path: str, body: dict[str, Any]) -> str:
    response = await http.post(path, json=body, headers=org.headers())
    assert response.status_code == 201, (path, response.text)
    return str(response.json()["id"])


@pytest.fixture(scope="module")
async def existing(client, sessionmaker) -> Existing:
    """One of each resource a body-taking route may look up before it decodes the body."""
    org = await make_org(sessionmaker, "Unstorable text")
    ids: dict[str, str] = {"client_id": str(org.client_id)}
    ids["project_id"] = await _created(
        client,
        org,
        "/v1/projects",
        {"client_id": ids["client_id"], "code": "NUL-1", "name": "P", "billing_mode": "t_and_m"},
    )
    ids["person_id"] = await _created(
        client,
        org,
        "/v1/people",
        {
            "name": "Ann",
            "email": "ann@agency.example",
            "role": "developer",
            "cost_rate": "50",
            "cost_currency": "USD",
            "weekly_capacity_hours": "40",
        },
    )
    project = f"/v1/projects/{ids['project_id']}"
    ids["phase_id"] = await _created(client, org, f"{project}/phases", {"code": "PH", "name": "Phase"})
    ids["task_id"] = await _created(client, org, f"{project}/tasks", {"title": "Task"})
    ids["milestone_id"] = await _created(
        client, org, f"{project}/milestones", {"code": "M1", "name": "M", "amount": "10"}
    )
    ids["entry_id"] = await _created(
        client,
        org,
        "/v1/time-entries",
        {"project_id": ids["project_id"], "person_id": ids["person_id"], "work_date": "2026-11-02", "hours": "2"},
    )
    ids["expense_id"] = await _created(
        client,
        org,
        "/v1/expenses",
        {
            "project_id": ids["project_id"],
            "person_id": ids["person_id"],
            "spent_on": "2026-11-02",
            "category": "travel",
            "description": "Train",
            "amount": "12.50",
            "currency": "USD",
        },
    )
    sheet = await client.post(
        "/v1/timesheets/submit", json={"week_start": "2026-11-02", "person_id": ids["person_id"]}, headers=org.headers()
    )
    assert sheet.status_code in (200, 201), sheet.text
    ids["timesheet_id"] = str(sheet.json()["id"])
    return Existing(org, ids)


def _operations(methods: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method.upper() in methods and isinstance(operation, dict)
    ]


def body_cases() -> list[Any]:
    cases = []
    for method, path, operation in _operations({"POST", "PUT", "PATCH"}):
        content = operation.get("requestBody", {}).get("content", {})
        if (method, path) in OWN_DECODER or "application/json" not in content:
            continue
        for pointer, body in string_fields(content["application/json"]["schema"]):
            cases.append(pytest.param(method, path, pointer, body, id=f"{method} {path} {pointer}"))
    return cases


def query_cases() -> list[Any]:
    return [
        pytest.param(path, parameter["name"], id=f"{path}?{parameter['name']}")
        for method, path, operation in _operations({"GET"})
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


BODY_CASES = body_cases()
QUERY_CASES = query_cases()


def test_the_document_walk_finds_the_routes_the_issue_named() -> None:
    """Guards the walk itself: if it found nothing, every case below would pass vacuously."""
    named = {(c.values[1], c.values[2]) for c in BODY_CASES}
    for expected in [
        ("/v1/clients", "/name"),
        ("/v1/clients", "/billing_address/city"),
        ("/v1/people", "/name"),
        ("/v1/meters", "/key"),
        ("/v1/webhooks", "/url"),
        ("/v1/projects/{project_id}/tasks", "/title"),
        ("/v1/time-entries", "/notes"),
        ("/v1/expenses", "/description"),
        ("/v1/api-keys", "/name"),
    ]:
        assert expected in named, expected
    assert len(BODY_CASES) > 150
    assert {c.values[1] for c in QUERY_CASES} >= {"status", "cursor", "action", "period", "meter", "tz"}


@pytest.mark.parametrize(("method", "path", "pointer", "body"), BODY_CASES)
async def test_unstorable_text_in_any_body_field_is_422_naming_it(
    client, existing, method, path, pointer, body
) -> None:
    org = existing.org
    for text, says in ((NUL, "U+0000"), (SURROGATE, "surrogate")):
        # json.dumps writes the lone surrogate as the escape "\ud800", as a JSON client would send it.
        raw = json.dumps(_place(body, text)).encode()
        response = await client.request(
            method,
            _concrete(path, existing.ids),
            content=raw,
            headers=org.headers(**{"Content-Type": "application/json"}),
        )
        assert response.status_code == 422, (text, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        details = {e.get("pointer"): e["detail"] for e in response.json()["errors"]}
        assert says in details.get(pointer, ""), (text, details)


@pytest.mark.parametrize(("path", "name"), QUERY_CASES)
async def test_nul_in_any_query_parameter_is_400_naming_it(client, org, path, name) -> None:
    response = await client.get(_concrete(path), params={name: NUL}, headers=org.headers())
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert name in {e.get("parameter") for e in response.json()["errors"]}


async def test_nul_in_a_path_or_header_parameter_is_400_naming_it(client, org) -> None:
    response = await client.get("/v1/clients/a%00b", headers=org.headers())
    assert response.status_code in (400, 404)  # a client id is a UUID: a NUL one names no route either
    response = await client.post(
        "/v1/clients",
        json={"name": "Acme", "external_key": "acme-nul", "currency": "EUR", "timezone": "UTC"},
        headers=org.headers(**{"Idempotency-Key": "key\x00one"}),
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"parameter": "idempotency-key", "detail": "contains U+0000 (NUL), which cannot be stored"}
    ]


async def test_refused_text_writes_nothing_and_clean_text_still_works(client, org, sessionmaker) -> None:
    async def count() -> int:
        async with tenant_session(sessionmaker, org.id) as session:
            return (await session.execute(select(func.count()).select_from(Client))).scalar_one()

    before = await count()
    good = {"name": "Ça va — 日本", "external_key": "unicode-ok", "currency": "EUR", "timezone": "UTC"}
    bad = {**good, "external_key": "nul-key", "name": "Acme\x00"}
    assert (await client.post("/v1/clients", json=bad, headers=org.headers())).status_code == 422
    assert await count() == before
    created = await client.post("/v1/clients", json=good, headers=org.headers())
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Ça va — 日本"


def test_the_rule_refuses_only_what_postgresql_cannot_store() -> None:
    assert unstorable("plain") is None
    assert unstorable("emoji 🎉 and a real pair \U00010000") is None
    assert unstorable("") is None
    assert "U+0000" in (unstorable("\x00") or "")
    assert "surrogate" in (unstorable("\udfff") or "")


def test_every_bad_field_is_named_at_once_and_a_literal_backslash_u0000_is_fine() -> None:
    raw = b'{"name": "a\\u0000", "external_key": "k\\u0000", "currency": "EURO", "timezone": "UTC"}'
    with pytest.raises(ValidationFailed) as caught:
        decode_json(raw, ClientCreate)
    assert {e.pointer: e.detail for e in caught.value.errors or []} == {
        "/name": "contains U+0000 (NUL), which cannot be stored",
        "/external_key": "contains U+0000 (NUL), which cannot be stored",
        "/currency": "Expected `str` matching regex '^[A-Z]{3}$'",
    }
    literal = b'{"name": "C:\\\\u0000", "external_key": "k", "currency": "EUR", "timezone": "UTC"}'
    assert decode_json(literal, ClientCreate).name == "C:\\u0000"
