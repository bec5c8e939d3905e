"""Deleting an organisation: its data is exported first, then nobody gets in, and only that org is touched."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile

from tests.identity.conftest import (
    PASSWORD,
    PLATFORM_TOKEN,
    Stack,
    closing,
    csrf,
    enrol_totp,
    signed_in_owner,
    token_from_mail,
    unique_email,
)

OPERATOR = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}


async def test_deleting_an_org_exports_its_rows_first_then_revokes_sessions_keys_and_invites(
    identity_stack: Stack,
) -> None:
    owner, org, email = await signed_in_owner(identity_stack)
    bystander, other_org, _ = await signed_in_owner(identity_stack)
    await enrol_totp(owner)  # issuing keys is a step-up action for an owner's session
    async with closing(owner, bystander), identity_stack.client() as api:
        r = await owner.post(
            "/v1/clients",
            json={"name": "Gone Client Ltd", "external_key": "gone-1", "currency": "EUR", "timezone": "UTC"},
            headers=csrf(owner),
        )
        assert r.status_code == 201, r.text
        r = await owner.post("/v1/api-keys", json={"name": "mine", "role": "owner"}, headers=csrf(owner))
        assert r.status_code == 201, r.text
        key = {"Authorization": f"Bearer {r.json()['token']}"}
        invited = unique_email("pending")
        r = await owner.post("/v1/invites", json={"email": invited, "role": "pm"}, headers=csrf(owner))
        assert r.status_code == 201, r.text
        r = await bystander.post(
            "/v1/clients",
            json={"name": "Still Here Inc", "external_key": "here-1", "currency": "USD", "timezone": "UTC"},
            headers=csrf(bystander),
        )
        assert r.status_code == 201, r.text
        assert (await api.get("/v1/clients", headers=key)).status_code == 200

        r = await api.delete(f"/v1/platform/orgs/{org['org_id']}", headers=OPERATOR)
        assert r.status_code == 200, r.text
        deleted = r.json()
        assert deleted["already_deleted"] is False and deleted["deleted_by"] == "platform:operator"
        assert deleted["rows_exported"]["orgs"] == 1 and deleted["rows_exported"]["clients"] == 1
        assert deleted["rows_exported"]["api_keys"] == 1 and deleted["rows_exported"]["invites"] == 2

        # The export: this org's rows only, no credentials, and the hash the deletion recorded.
        r = await api.get(deleted["export_url"], headers=OPERATOR)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert hashlib.sha256(r.content).hexdigest() == deleted["export_sha256"]
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["org_id"] == org["org_id"] and manifest["rows"] == deleted["rows_exported"]
        clients = [json.loads(line) for line in archive.read("clients.jsonl").splitlines()]
        assert [(c["name"], c["currency"]) for c in clients] == [("Gone Client Ltd", "EUR")]
        every_row = b"".join(archive.read(name) for name in archive.namelist())
        assert b"Still Here Inc" not in every_row and other_org["org_id"].encode() not in every_row
        keys = [json.loads(line) for line in archive.read("api_keys.jsonl").splitlines()]
        assert keys[0]["name"] == "mine" and "secret_hash" not in keys[0]
        assert "secret_hash" in manifest["excluded_columns"]["api_keys"]
        assert "token_hash" in manifest["excluded_columns"]["user_sessions"]

        # Nobody gets in any more: the session, the key, a fresh login, the open invite.
        assert (await owner.get("/v1/org")).status_code == 401
        assert (await api.get("/v1/clients", headers=key)).status_code == 401
        login = await api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 401, login.text
        token = token_from_mail(identity_stack.inbox, invited)
        r = await api.post(
            "/v1/auth/invites/accept", json={"token": token, "display_name": "Late", "password": PASSWORD}
        )
        assert r.status_code == 404
        # Another org carries on.
        assert (await bystander.get("/v1/clients")).json()["items"][0]["name"] == "Still Here Inc"

        # A retry answers the first deletion and exports nothing again.
        again = await api.delete(f"/v1/platform/orgs/{org['org_id']}", headers=OPERATOR)
        assert again.status_code == 200
        assert again.json()["already_deleted"] is True
        assert again.json()["export_sha256"] == deleted["export_sha256"]
        assert again.json()["deleted_at"] == deleted["deleted_at"]


async def test_org_deletion_needs_the_platform_token_and_an_existing_org(identity_stack: Stack) -> None:
    _, org, _ = await signed_in_owner(identity_stack)
    async with identity_stack.client() as api:
        assert (await api.delete(f"/v1/platform/orgs/{org['org_id']}")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await api.delete(f"/v1/platform/orgs/{org['org_id']}", headers=wrong)).status_code == 401
        missing = await api.delete(f"/v1/platform/orgs/{uuid.uuid4()}", headers=OPERATOR)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
        assert (await api.get(f"/v1/platform/orgs/{org['org_id']}/export", headers=OPERATOR)).status_code == 404
