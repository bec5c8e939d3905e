"""The role matrix: every role against every action the API exposes, allowed or 403 — read from the one
permission table, so the table and the behaviour cannot drift apart."""

from __future__ import annotations

import uuid

import pytest

from api.app import create_app
from core.permissions import PERMISSIONS, Role
from tests.conftest import OrgHandle


def route_actions() -> set[str]:
    app = create_app(database_url="postgresql://unused@127.0.0.1/unused")
    actions = set()
    for route in app.routes:
        for handler in getattr(route, "route_handler_map", {}).values():
            handler = handler[0] if isinstance(handler, tuple) else handler
            action = handler.opt.get("action")
            if action:
                actions.add(action)
    return actions


ROUTE_ACTIONS = route_actions()


def test_every_route_action_is_in_the_permission_table() -> None:
    assert set(PERMISSIONS) >= ROUTE_ACTIONS


async def probe(client, org: OrgHandle, role: Role, action: str) -> int:
    """Perform one request exercising ``action`` as ``role``; return the status."""
    owner = org.headers(Role.OWNER)
    h = org.headers(role)
    suffix = uuid.uuid4().hex[:8]
    if action == "org.read":
        return (await client.get("/v1/org", headers=h)).status_code
    if action == "clients.read":
        return (await client.get(f"/v1/clients/{org.client_id}", headers=h)).status_code
    if action == "clients.write":
        body = {"name": "C", "external_key": f"c-{suffix}", "currency": "USD", "timezone": "UTC"}
        return (await client.post("/v1/clients", json=body, headers=h)).status_code
    if action == "sites.read":
        return (await client.get(f"/v1/clients/{org.client_id}/sites", headers=h)).status_code
    if action == "sites.write":
        body = {"code": f"s-{suffix}", "name": "S"}
        return (await client.post(f"/v1/clients/{org.client_id}/sites", json=body, headers=h)).status_code
    if action == "projects.read":
        return (await client.get("/v1/projects", headers=h)).status_code
    if action == "projects.write":
        body = {"client_id": str(org.client_id), "code": f"P-{suffix}", "name": "P", "billing_mode": "t_and_m"}
        return (await client.post("/v1/projects", json=body, headers=h)).status_code
    if action == "people.read":
        return (await client.get("/v1/people", headers=h)).status_code
    if action == "people.write":
        body = {
            "name": "N",
            "email": f"{suffix}@x.example",
            "role": "dev",
            "cost_rate": "1",
            "cost_currency": "USD",
            "weekly_capacity_hours": "40",
        }
        return (await client.post("/v1/people", json=body, headers=h)).status_code
    if action == "memberships.read":
        return (await client.get("/v1/memberships", headers=h)).status_code
    if action == "memberships.write":
        body = {"email": f"{suffix}@x.example", "display_name": "M", "role": "staff"}
        return (await client.post("/v1/memberships", json=body, headers=h)).status_code
    if action == "api_keys.read":
        return (await client.get("/v1/api-keys", headers=h)).status_code
    if action == "api_keys.write":
        return (await client.post("/v1/api-keys", json={"name": "k", "role": "staff"}, headers=h)).status_code
    if action == "audit.read":
        return (await client.get("/v1/audit-log", headers=h)).status_code
    del owner
    raise AssertionError(f"no probe for {action}: add one to tests/foundation/test_roles.py")


FOUNDATION_ACTIONS = sorted(
    a
    for a in ROUTE_ACTIONS
    if a.split(".")[0] in {"org", "clients", "sites", "projects", "people", "memberships", "api_keys", "audit"}
)


@pytest.mark.parametrize("action", FOUNDATION_ACTIONS)
@pytest.mark.parametrize("role", list(Role))
async def test_role_matrix(client, org, role: Role, action: str) -> None:
    status = await probe(client, org, role, action)
    roles, _ = PERMISSIONS[action]
    if role in roles:
        assert status in (200, 201), (role, action, status)
    else:
        assert status == 403, (role, action, status)


async def test_client_viewer_sees_only_its_client(client, org) -> None:
    other = await client.post(
        "/v1/clients",
        json={"name": "Other", "external_key": "other-x", "currency": "USD", "timezone": "UTC"},
        headers=org.headers(),
    )
    viewer = org.headers(Role.CLIENT_VIEWER)
    listed = (await client.get("/v1/clients", headers=viewer)).json()["items"]
    assert [c["id"] for c in listed] == [str(org.client_id)]
    assert (await client.get(f"/v1/clients/{other.json()['id']}", headers=viewer)).status_code == 404


async def test_last_owner_cannot_be_demoted(client, org) -> None:
    created = await client.post(
        "/v1/memberships",
        json={"email": "boss@x.example", "display_name": "Boss", "role": "owner"},
        headers=org.headers(),
    )
    assert created.status_code == 201
    url = f"/v1/memberships/{created.json()['id']}"
    # The fixture's owner key belongs to an owner member too, so the boss is not the last owner...
    assert (await client.patch(url, json={"role": "admin"}, headers=org.headers())).status_code == 200
    members = (await client.get("/v1/memberships", headers=org.headers())).json()["items"]
    (fixture_owner,) = [m for m in members if m["user_id"] == str(org.user_ids[Role.OWNER])]
    # ...but the fixture's owner now is.
    last = f"/v1/memberships/{fixture_owner['id']}"
    demoted = await client.patch(last, json={"role": "admin"}, headers=org.headers())
    assert demoted.status_code == 409
    by_admin = await client.post(
        "/v1/memberships",
        json={"email": "b2@x.example", "display_name": "B", "role": "owner"},
        headers=org.headers(Role.ADMIN),
    )
    assert by_admin.status_code == 403
