"""Every mutation and every financial read leaves an audit record, in the same transaction."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from sqlalchemy import text

from core.permissions import Role


async def audit_entries(client, org, **filters: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return (await client.get(f"/v1/audit-log?limit=200&{query}", headers=org.headers(Role.FINANCE))).json()["items"]


async def test_create_update_delete_are_audited_with_digests(client, org) -> None:
    created = await client.post(
        "/v1/clients",
        json={"name": "Audit Me", "external_key": "audit-me", "currency": "USD", "timezone": "UTC"},
        headers=org.headers(Role.FINANCE, **{"X-Request-Id": "req-create-1"}),
    )
    client_id = created.json()["id"]
    await client.patch(f"/v1/clients/{client_id}", json={"name": "Audited"}, headers=org.headers(Role.FINANCE))
    await client.delete(f"/v1/clients/{client_id}", headers=org.headers(Role.FINANCE))
    entries = await audit_entries(client, org, entity_id=client_id)
    assert [e["action"] for e in entries] == ["client.create", "client.update", "client.delete"]
    create, update, delete = entries
    assert create["request_id"] == "req-create-1"
    assert create["actor_role"] == "finance" and create["actor_type"] == "api_key"
    assert create["before_digest"] is None and create["after_digest"] == update["before_digest"]
    assert update["detail"] == {"fields": ["name"]}
    assert delete["before_digest"] == update["after_digest"] and delete["after_digest"] is None
    # The digest is reproducible from the representation the API returned.
    state = {k: v for k, v in created.json().items()}
    expected = hashlib.sha256(msgspec.json.Encoder(order="sorted").encode(state)).hexdigest()
    assert create["after_digest"] == expected


async def test_reading_the_audit_log_is_itself_audited(client, org) -> None:
    await audit_entries(client, org)
    reads = await audit_entries(client, org, action="audit.read")
    assert len(reads) >= 1
    assert reads[-1]["entity_type"] == "audit_log"


async def test_failed_mutation_leaves_no_audit_record(client, org) -> None:
    body = {"name": "Dup", "external_key": "dup-audit", "currency": "USD", "timezone": "UTC"}
    assert (await client.post("/v1/clients", json=body, headers=org.headers())).status_code == 201
    assert (await client.post("/v1/clients", json=body, headers=org.headers())).status_code == 409
    creates = [e for e in await audit_entries(client, org, action="client.create")]
    assert len(creates) == 1


async def test_audit_log_is_append_only_for_the_app(app_engine, org) -> None:
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('app.org_id', :o, false)"), {"o": str(org.id)})
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="permission denied"):
                await conn.execute(text(statement))
            await conn.rollback()
            await conn.execute(text("SELECT set_config('app.org_id', :o, false)"), {"o": str(org.id)})
