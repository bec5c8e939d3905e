"""Another org's invites, sessions and invite tokens answer 404/401, never act across tenants."""

from __future__ import annotations

import uuid

from tests.identity.conftest import PASSWORD, Stack, closing, csrf, signed_in_owner, token_from_mail, unique_email


async def test_another_orgs_invite_id_answers_404_and_stays_open(identity_stack: Stack, org, other_org) -> None:  # type: ignore[no-untyped-def]
    async with identity_stack.client() as http:
        r = await http.post("/v1/invites", json={"email": unique_email("iso"), "role": "staff"}, headers=org.headers())
        assert r.status_code == 201
        invite_id = r.json()["id"]
        assert (await http.delete(f"/v1/invites/{invite_id}", headers=other_org.headers())).status_code == 404
        assert invite_id not in [i["id"] for i in (await http.get("/v1/invites", headers=other_org.headers())).json()]
        assert invite_id in [i["id"] for i in (await http.get("/v1/invites", headers=org.headers())).json()]
        assert (await http.delete(f"/v1/invites/{invite_id}", headers=org.headers())).status_code == 204
        assert invite_id not in [i["id"] for i in (await http.get("/v1/invites", headers=org.headers())).json()]


async def test_a_token_relabelled_with_another_org_finds_nothing(identity_stack: Stack, other_org) -> None:  # type: ignore[no-untyped-def]
    owner, _, _ = await signed_in_owner(identity_stack)
    email = unique_email("pm")
    async with closing(owner):
        r = await owner.post("/v1/invites", json={"email": email, "role": "pm"}, headers=csrf(owner))
        assert r.status_code == 201
        session = owner.cookies["af_session"]
    token = token_from_mail(identity_stack.inbox, email)
    elsewhere = f"{other_org.id.hex}.{token.split('.', 1)[1]}"
    async with identity_stack.client() as http:
        r = await http.post(
            "/v1/auth/invites/accept", json={"token": elsewhere, "display_name": "X", "password": PASSWORD}
        )
        assert r.status_code == 404
    async with identity_stack.client() as http:
        http.cookies.set("af_session", f"{other_org.id.hex}.{session.split('.', 1)[1]}")
        assert (await http.get("/v1/auth/me")).status_code == 401
        http.cookies.set("af_session", f"{uuid.uuid4().hex}.{session.split('.', 1)[1]}", domain="testserver.local")
        assert (await http.get("/v1/org")).status_code == 401


async def test_an_orgs_own_key_cannot_delete_or_export_another_org(identity_stack: Stack, org, other_org) -> None:  # type: ignore[no-untyped-def]
    """The platform org routes take an {org_id} of any tenant, so no tenant credential may reach them."""
    org_id = other_org.id
    async with identity_stack.client() as http:
        r = await http.delete(f"/v1/platform/orgs/{org_id}", headers=org.headers())
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "missing or wrong platform token"
        r = await http.get(f"/v1/platform/orgs/{org_id}/export", headers=org.headers())
        assert r.status_code == 401
        # The other org is untouched: its key still works.
        assert (await http.get("/v1/org", headers=other_org.headers())).status_code == 200
