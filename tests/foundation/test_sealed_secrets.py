"""No secret the API shows once is stored readable: webhook signing secrets are sealed in their row, and the
replayable response of an ``Idempotency-Key`` create (API key token, signing secret) is sealed too, yet
replays exactly. The 0006 migration seals what older versions stored, and ``secrets reseal`` rotates keys."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from sqlalchemy import text

from cli.secrets import _reseal
from core.permissions import Role
from core.secret_box import SEALED_PREFIX, SecretBox, new_key, secret_box, secret_keys
from core.settings import load_settings, with_database
from persistence import migrate
from persistence.bootstrap import drop_database, ensure_database
from persistence.db import make_engine


async def stored_responses(admin_engine, org_id: uuid.UUID, scope: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    async with admin_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT response_body FROM idempotency_keys WHERE org_id = :o AND scope = :s"),
            {"o": org_id, "s": scope},
        )
        return [bytes(r[0]) for r in rows]


async def test_an_api_key_token_is_sealed_in_the_idempotency_store_and_replays_whole(client, org, admin_engine) -> None:
    headers = org.headers(Role.OWNER, **{"Idempotency-Key": f"key-{uuid.uuid4().hex}"})
    first = await client.post("/v1/api-keys", json={"name": "ci", "role": "pm"}, headers=headers)
    again = await client.post("/v1/api-keys", json={"name": "ci", "role": "pm"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    token = first.json()["token"]
    [stored] = await stored_responses(admin_engine, org.id, "POST /v1/api-keys")
    assert token.encode() not in stored and stored.startswith(SEALED_PREFIX.encode())
    assert msgspec.json.decode(secret_box(load_settings()).open(stored.decode()))["token"] == token
    works = await client.get("/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert works.status_code == 200


async def test_other_creates_keep_their_replay_readable(client, org, admin_engine) -> None:
    """Only secret-bearing responses pay for sealing; a client record is no secret."""
    body = {"name": "Plain Co", "external_key": f"plain-{uuid.uuid4().hex[:6]}", "currency": "USD", "timezone": "UTC"}
    created = await client.post("/v1/clients", json=body, headers=org.headers(**{"Idempotency-Key": "plain"}))
    assert created.status_code == 201
    [stored] = await stored_responses(admin_engine, org.id, "POST /v1/clients")
    assert msgspec.json.decode(stored)["id"] == created.json()["id"]


async def test_a_webhook_secret_is_sealed_in_its_row_and_in_the_replay(client, org, admin_engine) -> None:
    headers = org.headers(Role.OWNER, **{"Idempotency-Key": f"hook-{uuid.uuid4().hex}"})
    body = {"url": "https://hooks.example/sealed", "event_types": []}
    first = await client.post("/v1/webhooks", json=body, headers=headers)
    again = await client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["secret"] == first.json()["secret"]
    secret, endpoint_id = first.json()["secret"], uuid.UUID(first.json()["id"])
    box = secret_box(load_settings())
    async with admin_engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT secret FROM webhook_endpoints WHERE id = :i"), {"i": endpoint_id})
        ).scalar_one()
    assert stored.startswith(SEALED_PREFIX) and secret not in stored
    assert box.open(stored) == secret
    [replay] = await stored_responses(admin_engine, org.id, "POST /v1/webhooks")
    assert secret.encode() not in replay

    rotated = await client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret", headers=org.headers(Role.OWNER))
    async with admin_engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT secret FROM webhook_endpoints WHERE id = :i"), {"i": endpoint_id})
        ).scalar_one()
    assert box.open(stored) == rotated.json()["secret"] != secret


@pytest.fixture
async def database_at_0005(pg_server_url: str):  # type: ignore[no-untyped-def]
    name = f"af_seal_{uuid.uuid4().hex[:8]}"
    url = with_database(pg_server_url, name)
    await ensure_database(url, name)
    await asyncio.to_thread(migrate.upgrade, url, "0005_capacity")
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


async def test_upgrade_seals_what_older_versions_stored_readable_and_downgrade_restores_it(database_at_0005) -> None:
    url = database_at_0005
    org_id, endpoint_id = uuid.uuid4(), uuid.uuid4()
    legacy_secret = "whsec_" + "cd" * 32
    legacy_replay = b'{"token":"afk_legacy_token"}'
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:  # as the superuser: RLS does not apply
            await conn.execute(
                text(
                    "INSERT INTO orgs (id, name, slug, default_currency, timezone) VALUES (:o, 'L', :s, 'USD', 'UTC')"
                ),
                {"o": org_id, "s": f"legacy-{org_id.hex[:8]}"},
            )
            await conn.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, org_id, url, secret, event_types) "
                    "VALUES (:i, :o, 'https://hooks.example/old', :s, '{}')"
                ),
                {"i": endpoint_id, "o": org_id, "s": legacy_secret},
            )
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (org_id, scope, key, request_hash, status_code, response_body, "
                    "content_type) VALUES (:o, 'POST /v1/api-keys', 'k', 'h', 201, :b, 'application/json')"
                ),
                {"o": org_id, "b": legacy_replay},
            )
        await asyncio.to_thread(migrate.upgrade, url)
        await engine.dispose()
        box = secret_box(load_settings())
        async with engine.connect() as conn:
            sealed = (await conn.execute(text("SELECT secret FROM webhook_endpoints"))).scalar_one()
            replay = bytes((await conn.execute(text("SELECT response_body FROM idempotency_keys"))).scalar_one())
        assert sealed.startswith(SEALED_PREFIX) and box.open(sealed) == legacy_secret
        assert box.open(replay.decode()).encode() == legacy_replay

        new = new_key()
        rotated = SecretBox([new, *secret_keys(load_settings())])
        assert await _reseal(url, rotated.reseal) == 2
        async with engine.connect() as conn:
            resealed = (await conn.execute(text("SELECT secret FROM webhook_endpoints"))).scalar_one()
        assert SecretBox([new]).open(resealed) == legacy_secret, "after reseal the new key alone opens it"
        await asyncio.to_thread(_reseal_back, url, rotated, box)

        await asyncio.to_thread(migrate.downgrade, url, "0005_capacity")
        await engine.dispose()  # the column changed type under the pooled connection's cached plans
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT secret FROM webhook_endpoints"))).scalar_one() == legacy_secret
            restored = bytes((await conn.execute(text("SELECT response_body FROM idempotency_keys"))).scalar_one())
        assert restored == legacy_replay
    finally:
        await engine.dispose()


def _reseal_back(url: str, rotated: SecretBox, box: SecretBox) -> None:
    """Downgrade opens with the configured key, so move the rows back under it."""
    asyncio.run(_reseal(url, lambda sealed: box.seal(rotated.open(sealed))))
