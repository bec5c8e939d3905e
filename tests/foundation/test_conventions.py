"""Idempotency keys, ETag/If-Match, cursor pagination, request ids."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from persistence.db import tenant_session
from persistence.models import Client


def new_client_body(key: str | None = None) -> dict[str, str]:
    return {
        "name": "Acme",
        "external_key": key or f"acme-{uuid.uuid4().hex[:8]}",
        "currency": "USD",
        "timezone": "America/New_York",
    }


async def count_clients(sessionmaker, org, key: str) -> int:
    async with tenant_session(sessionmaker, org.id) as session:
        query = select(func.count()).select_from(Client).where(Client.external_key == key)
        return (await session.execute(query)).scalar_one()


async def test_same_idempotency_key_and_body_replays_first_response(client, org, sessionmaker) -> None:
    body = new_client_body()
    headers = org.headers(**{"Idempotency-Key": "create-acme-1"})
    first = await client.post("/v1/clients", json=body, headers=headers)
    second = await client.post("/v1/clients", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_clients(sessionmaker, org, body["external_key"]) == 1


async def test_same_idempotency_key_with_other_body_is_422(client, org, sessionmaker) -> None:
    headers = org.headers(**{"Idempotency-Key": "create-acme-2"})
    first = await client.post("/v1/clients", json=new_client_body(), headers=headers)
    assert first.status_code == 201
    other = new_client_body()
    second = await client.post("/v1/clients", json=other, headers=headers)
    assert second.status_code == 422
    assert second.json()["errors"][0]["parameter"] == "Idempotency-Key"
    assert await count_clients(sessionmaker, org, other["external_key"]) == 0


async def test_concurrent_retries_with_one_key_create_one_row(client, org, sessionmaker) -> None:
    body = new_client_body()
    headers = org.headers(**{"Idempotency-Key": "create-acme-concurrent"})
    responses = await asyncio.gather(*[client.post("/v1/clients", json=body, headers=headers) for _ in range(6)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_clients(sessionmaker, org, body["external_key"]) == 1


async def test_idempotency_keys_are_per_org(client, org, other_org) -> None:
    body = new_client_body("shared-key-client")
    a = await client.post("/v1/clients", json=body, headers=org.headers(**{"Idempotency-Key": "same"}))
    b = await client.post("/v1/clients", json=body, headers=other_org.headers(**{"Idempotency-Key": "same"}))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_failed_create_does_not_burn_the_idempotency_key(client, org) -> None:
    headers = org.headers(**{"Idempotency-Key": "dup-key"})
    body = new_client_body("dup-external")
    assert (await client.post("/v1/clients", json=body, headers=org.headers())).status_code == 201
    conflict = await client.post("/v1/clients", json=body, headers=headers)
    assert conflict.status_code == 409
    fixed = await client.post("/v1/clients", json=body | {"external_key": "dup-external-2"}, headers=headers)
    assert fixed.status_code == 201


async def test_etag_and_if_match(client, org) -> None:
    created = await client.post("/v1/clients", json=new_client_body(), headers=org.headers())
    url = created.headers["location"]
    got = await client.get(url, headers=org.headers())
    etag = got.headers["etag"]
    assert etag == '"1"'
    unchanged = await client.get(url, headers=org.headers(**{"If-None-Match": etag}))
    assert unchanged.status_code == 304
    updated = await client.patch(url, json={"name": "Acme 2"}, headers=org.headers(**{"If-Match": etag}))
    assert updated.status_code == 200
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["name"] == "Acme 2"
    stale = await client.patch(url, json={"name": "Acme 3"}, headers=org.headers(**{"If-Match": etag}))
    assert stale.status_code == 412
    assert stale.json()["extra"]["current_etag"] == '"2"'
    assert (await client.get(url, headers=org.headers())).json()["name"] == "Acme 2"
    stale_delete = await client.delete(url, headers=org.headers(**{"If-Match": etag}))
    assert stale_delete.status_code == 412


async def test_pagination_is_stable_under_inserts(client, org) -> None:
    ids = []
    for _ in range(7):
        response = await client.post("/v1/clients", json=new_client_body(), headers=org.headers())
        ids.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    inserted_during = []
    while True:
        url = "/v1/clients?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=org.headers())).json()
        seen += [item["id"] for item in page["items"]]
        if len(inserted_during) < 2:
            created = await client.post("/v1/clients", json=new_client_body(), headers=org.headers())
            inserted_during.append(created.json()["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(ids) <= set(seen)
    assert seen == sorted(seen)
    assert set(inserted_during) <= set(seen)


async def test_request_id_is_echoed_or_generated(client, org) -> None:
    response = await client.get("/v1/org", headers=org.headers(**{"X-Request-Id": "trace-abc.123"}))
    assert response.headers["x-request-id"] == "trace-abc.123"
    generated = await client.get("/v1/org", headers=org.headers(**{"X-Request-Id": "bad id with spaces"}))
    assert len(generated.headers["x-request-id"]) == 32


async def test_unknown_route_is_404_problem(client, org) -> None:
    response = await client.get("/v1/nothing-here", headers=org.headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
