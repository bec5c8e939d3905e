"""Authentication: every way of presenting a bad key is a 401 problem, never a 500 or a leak."""

from __future__ import annotations

from core.permissions import Role
from tests.conftest import OrgHandle


async def test_missing_key_is_401_problem_with_challenge(client) -> None:
    response = await client.get("/v1/clients")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["type"].endswith("/unauthorized")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_malformed_and_wrong_secret_keys_are_401(client, org: OrgHandle) -> None:
    token = org.tokens[Role.OWNER]
    prefix, _, secret = token.rpartition("_")
    for bad in ("nonsense", "afk_zz_yy_xx", f"{prefix}_{'0' * len(secret)}", token[:-1]):
        response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad


async def test_key_of_one_org_presented_with_another_orgs_id_is_401(client, org, other_org) -> None:
    _, _org_hex, prefix, secret = org.tokens[Role.OWNER].split("_")
    forged = f"afk_{other_org.id.hex}_{prefix}_{secret}"
    response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_revoked_key_stops_working_immediately(client, org: OrgHandle) -> None:
    created = await client.post("/v1/api-keys", json={"name": "temp", "role": "pm"}, headers=org.headers(Role.OWNER))
    assert created.status_code == 201
    token = created.json()["token"]
    key_id = created.json()["key"]["id"]
    assert (await client.get("/v1/projects", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{key_id}", headers=org.headers(Role.OWNER))
    assert revoked.status_code == 204
    assert (await client.get("/v1/projects", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    listed = await client.get(f"/v1/api-keys/{key_id}", headers=org.headers(Role.OWNER))
    assert listed.json()["revoked_at"] is not None
    assert "secret" not in listed.text and token not in listed.text


async def test_x_api_key_header_is_accepted(client, org: OrgHandle) -> None:
    response = await client.get("/v1/org", headers={"X-API-Key": org.tokens[Role.STAFF]})
    assert response.status_code == 200
    assert response.json()["id"] == str(org.id)


async def test_ingest_only_key_cannot_read(client, org: OrgHandle) -> None:
    created = await client.post(
        "/v1/api-keys",
        json={"name": "ingest", "role": "admin", "scopes": ["events:write"]},
        headers=org.headers(Role.OWNER),
    )
    token = created.json()["token"]
    response = await client.get("/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "clients.read" in response.json()["detail"]


async def test_admin_cannot_issue_owner_key(client, org: OrgHandle) -> None:
    response = await client.post("/v1/api-keys", json={"name": "x", "role": "owner"}, headers=org.headers(Role.ADMIN))
    assert response.status_code == 403
