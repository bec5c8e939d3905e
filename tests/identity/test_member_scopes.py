"""A membership scoped to clients or projects reaches only those: out-of-scope ids are not found, lists hold only
in-scope rows, organisation-wide routes are refused, and the scope itself is validated like any other field."""

from __future__ import annotations

import uuid

from core.permissions import Role
from tests.conftest import OrgHandle


async def _make_client(http, org: OrgHandle, name: str) -> str:  # type: ignore[no-untyped-def]
    body = {"name": name, "external_key": f"{name}-{uuid.uuid4().hex[:6]}", "currency": "USD", "timezone": "UTC"}
    r = await http.post("/v1/clients", json=body, headers=org.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _make_project(http, org: OrgHandle, client_id: str) -> str:  # type: ignore[no-untyped-def]
    body = {"client_id": client_id, "code": f"P-{uuid.uuid4().hex[:6]}", "name": "P", "billing_mode": "t_and_m"}
    r = await http.post("/v1/projects", json=body, headers=org.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _membership_of(http, org: OrgHandle, role: Role) -> dict:  # type: ignore[no-untyped-def,type-arg]
    r = await http.get("/v1/memberships?limit=200", headers=org.headers())
    return next(m for m in r.json()["items"] if m["user_id"] == str(org.user_ids[role]))


async def _scope(http, org: OrgHandle, role: Role, **scope: list[str]):  # type: ignore[no-untyped-def]
    membership = await _membership_of(http, org, role)
    return await http.patch(f"/v1/memberships/{membership['id']}", json=scope, headers=org.headers())


async def _ids(http, org: OrgHandle, role: Role, url: str) -> set[str]:  # type: ignore[no-untyped-def]
    r = await http.get(url + "?limit=200", headers=org.headers(role))
    assert r.status_code == 200, (url, r.text)
    return {item["id"] for item in r.json()["items"]}


async def _world(http, org: OrgHandle) -> dict[str, str]:  # type: ignore[no-untyped-def]
    a, b = await _make_client(http, org, "acme"), await _make_client(http, org, "beta")
    return {
        "a": a,
        "b": b,
        "pa1": await _make_project(http, org, a),
        "pa2": await _make_project(http, org, a),
        "pb": await _make_project(http, org, b),
    }


async def test_a_member_scoped_to_a_client_reaches_its_projects_and_nothing_else(client, org) -> None:  # type: ignore[no-untyped-def]
    w = await _world(client, org)
    r = await _scope(client, org, Role.FINANCE, scope_client_ids=[w["a"]])
    assert r.status_code == 200, r.text
    assert r.json()["scope_client_ids"] == [w["a"]] and r.json()["scope_project_ids"] == []

    assert await _ids(client, org, Role.FINANCE, "/v1/clients") == {w["a"]}
    assert await _ids(client, org, Role.FINANCE, "/v1/projects") == {w["pa1"], w["pa2"]}
    for url in (f"/v1/clients/{w['b']}", f"/v1/projects/{w['pb']}", f"/v1/clients/{w['b']}/sites"):
        r = await client.get(url, headers=org.headers(Role.FINANCE))
        assert r.status_code == 404, (url, r.text)
    assert (await client.get(f"/v1/projects/{w['pa1']}", headers=org.headers(Role.FINANCE))).status_code == 200
    assert (await client.get(f"/v1/projects/{w['pb']}/burn", headers=org.headers(Role.FINANCE))).status_code == 404
    # Usage: its one client by default, another client's is not found.
    window = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
    assert (await client.get(f"/v1/usage?{window}", headers=org.headers(Role.FINANCE))).status_code == 200
    r = await client.get(f"/v1/usage?{window}&client={w['b']}", headers=org.headers(Role.FINANCE))
    assert r.status_code == 404
    # Organisation-wide reads are refused, not silently narrowed.
    for url in ("/v1/reports/profitability?from=2026-01-01&to=2026-02-01", "/v1/webhooks", "/v1/audit-log"):
        r = await client.get(url, headers=org.headers(Role.FINANCE))
        assert r.status_code == 403, (url, r.text)
        assert "scoped" in r.json()["detail"]
    # The unscoped finance role of the same org still sees everything.
    r = await _scope(client, org, Role.FINANCE, scope_client_ids=[])
    assert r.status_code == 200
    assert {w["a"], w["b"]} <= await _ids(client, org, Role.FINANCE, "/v1/clients")


async def test_a_member_scoped_to_a_project_acts_on_it_alone(client, org) -> None:  # type: ignore[no-untyped-def]
    w = await _world(client, org)
    lead = Role.DELIVERY_LEAD
    assert (await _scope(client, org, lead, scope_project_ids=[w["pb"]])).status_code == 200

    assert await _ids(client, org, lead, "/v1/projects") == {w["pb"]}
    # A project scope does not bring its client's contracts and invoices along.
    assert await _ids(client, org, lead, "/v1/clients") == set()
    assert await _ids(client, org, lead, "/v1/contracts") == set()
    milestone = {"code": "M1", "name": "Kick-off", "amount": "100"}
    mine = await client.post(f"/v1/projects/{w['pb']}/milestones", json=milestone, headers=org.headers(lead))
    assert mine.status_code == 201, mine.text
    theirs = await client.post(f"/v1/projects/{w['pa1']}/milestones", json=milestone, headers=org.headers(lead))
    assert theirs.status_code == 404
    patched = await client.patch(f"/v1/projects/{w['pa1']}", json={"name": "X"}, headers=org.headers(lead))
    assert patched.status_code == 404
    r = await client.get(f"/v1/milestones/{mine.json()['id']}", headers=org.headers(lead))
    assert r.status_code == 200
    # The owner's milestone on an out-of-scope project is not found for the scoped lead.
    other = await client.post(f"/v1/projects/{w['pa2']}/milestones", json=milestone, headers=org.headers())
    r = await client.get(f"/v1/milestones/{other.json()['id']}", headers=org.headers(lead))
    assert r.status_code == 404
    assert (await client.get("/v1/capacity/plans", headers=org.headers(lead))).status_code == 403


async def test_scopes_are_validated_field_by_field(client, org, other_org) -> None:  # type: ignore[no-untyped-def]
    w = await _world(client, org)
    theirs = await _world(client, other_org)
    r = await _scope(client, org, Role.ADMIN, scope_client_ids=[w["a"]])
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/scope_client_ids"
    r = await _scope(client, org, Role.PM, scope_project_ids=[w["pa1"], theirs["pa1"], str(uuid.uuid4())])
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/scope_project_ids/1", "/scope_project_ids/2"]
    r = await _scope(client, org, Role.PM, scope_client_ids=[w["a"], w["a"]])
    assert r.status_code == 422
    # Nothing was applied by the refused changes.
    membership = await _membership_of(client, org, Role.PM)
    assert membership["scope_client_ids"] == [] and membership["scope_project_ids"] == []


async def test_rescoping_a_member_ends_their_sessions_and_the_next_sign_in_is_scoped(identity_stack) -> None:  # type: ignore[no-untyped-def]
    from tests.identity.conftest import PASSWORD, closing, csrf, invite_and_accept, signed_in_owner

    owner, _, _ = await signed_in_owner(identity_stack)
    async with closing(owner):
        pm, email = await invite_and_accept(identity_stack, owner, "pm")
        async with closing(pm):
            clients = []
            for name in ("acme", "beta"):
                body = {"name": name, "external_key": name, "currency": "USD", "timezone": "UTC"}
                r = await owner.post("/v1/clients", json=body, headers=csrf(owner))
                assert r.status_code == 201, r.text
                clients.append(r.json()["id"])
            assert len((await pm.get("/v1/clients")).json()["items"]) == 2
            members = (await owner.get("/v1/memberships")).json()["items"]
            membership = next(m for m in members if m["email"] == email)
            r = await owner.patch(
                f"/v1/memberships/{membership['id']}", json={"scope_client_ids": [clients[0]]}, headers=csrf(owner)
            )
            assert r.status_code == 200, r.text
            assert (await pm.get("/v1/auth/me")).status_code == 401  # the scope change ended the session
            r = await pm.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert [c["id"] for c in (await pm.get("/v1/clients")).json()["items"]] == [clients[0]]
            audit = (await owner.get("/v1/audit-log?action=membership.update")).json()["items"]
            entry = next(e for e in audit if e["entity_id"] == membership["id"])
            assert entry["actor_type"] == "session" and entry["before_digest"] != entry["after_digest"]


async def test_an_invite_carries_its_scope_into_the_membership(identity_stack) -> None:  # type: ignore[no-untyped-def]
    from tests.identity.conftest import accept, closing, csrf, signed_in_owner, unique_email

    owner, _, _ = await signed_in_owner(identity_stack)
    async with closing(owner):
        body = {"name": "acme", "external_key": "acme", "currency": "USD", "timezone": "UTC"}
        acme = (await owner.post("/v1/clients", json=body, headers=csrf(owner))).json()["id"]
        body = {"name": "beta", "external_key": "beta", "currency": "USD", "timezone": "UTC"}
        assert (await owner.post("/v1/clients", json=body, headers=csrf(owner))).status_code == 201
        email = unique_email("scoped")
        bad = await owner.post(
            "/v1/invites", json={"email": email, "role": "admin", "scope_client_ids": [acme]}, headers=csrf(owner)
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/scope_client_ids"
        r = await owner.post(
            "/v1/invites", json={"email": email, "role": "finance", "scope_client_ids": [acme]}, headers=csrf(owner)
        )
        assert r.status_code == 201, r.text
        assert r.json()["scope_client_ids"] == [acme]
        async with identity_stack.client() as member:
            await accept(identity_stack, member, email)
            assert [c["id"] for c in (await member.get("/v1/clients")).json()["items"]] == [acme]
            assert (await member.get("/v1/webhooks")).status_code == 403
