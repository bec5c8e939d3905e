"""Preflight and CORS, the headers every response carries, and the rate limits on every route.

Each test builds its own app with the settings it needs (no Temporal: none of these routes starts a
workflow), so the limits it exhausts belong to that app alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from core.permissions import Role
from core.settings import load_settings
from tests.conftest import OrgHandle, asgi_client

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ORIGIN = "https://app.agency.example"


@pytest.fixture
async def make_client(app_database_url: str) -> AsyncIterator[MakeClient]:
    from contextlib import AsyncExitStack

    from api.app import create_app

    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            settings = msgspec.structs.replace(load_settings(), temporal_address="127.0.0.1:1", **overrides)
            app = create_app(settings, database_url=app_database_url)
            return await stack.enter_async_context(asgi_client(app))

        yield make


# ---- preflight and CORS (issue 13, item 5) ---------------------------------------------------------------------

PATHS = ["/v1/clients", "/v1/events", "/v1/meters", "/v1/org", "/v1/api-keys", "/v1/usage", "/v1/webhooks"]


async def test_options_with_a_valid_key_answers_204_with_allow_not_500(make_client: MakeClient, org: OrgHandle) -> None:
    client = await make_client()
    for path in PATHS:
        response = await client.options(path, headers=org.headers(Role.OWNER))
        assert response.status_code == 204, (path, response.text)
        assert "OPTIONS" in response.headers["allow"]
        # CORS is off by default: nothing tells a browser another origin may read the answer.
        assert not any(name.startswith("access-control-") for name in response.headers)
    events = await client.options("/v1/events", headers=org.headers(Role.STAFF))
    assert set(events.headers["allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}


async def test_preflight_needs_no_key_and_cors_is_off_by_default(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.options(
        "/v1/clients",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    # The real request from that page gets no CORS grant either.
    assert "access-control-allow-origin" not in (await client.get("/v1/clients", headers={"Origin": ORIGIN})).headers


async def test_configured_origin_gets_preflight_and_exposed_headers(make_client: MakeClient, org: OrgHandle) -> None:
    client = await make_client(cors_origins=(ORIGIN,))
    preflight = await client.options(
        "/v1/events",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, ce-specversion, ce-myextension",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    wanted = {"authorization", "content-type", "idempotency-key", "if-match", "ce-specversion", "ce-myextension"}
    assert wanted <= allowed
    assert "access-control-allow-credentials" not in preflight.headers
    assert preflight.headers["access-control-max-age"] == "600"

    real = await client.get("/v1/org", headers=org.headers(Role.OWNER, Origin=ORIGIN))
    assert real.status_code == 200
    assert real.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in real.headers["access-control-expose-headers"]
    assert "Origin" in real.headers["vary"]

    other = await client.options(
        "/v1/events", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert other.status_code == 204
    assert "access-control-allow-origin" not in other.headers


# ---- headers (item 10) -----------------------------------------------------------------------------------------


async def test_every_response_has_nosniff_and_api_responses_are_no_store(
    make_client: MakeClient, org: OrgHandle
) -> None:
    client = await make_client()
    for response in (
        await client.get("/v1/org", headers=org.headers(Role.OWNER)),
        await client.get("/v1/clients"),  # 401
        await client.get("/v1/nothing-here", headers=org.headers(Role.OWNER)),  # 404
        await client.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
        assert response.headers["cache-control"] == "no-store", response.request.url
    schema = await client.get("/schema/openapi.json")
    assert schema.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in schema.headers.get("cache-control", "")


async def test_responses_that_show_a_secret_once_are_no_store(make_client: MakeClient, org: OrgHandle) -> None:
    client = await make_client(webhook_allow_private=True)
    owner = org.headers(Role.OWNER)
    key = await client.post("/v1/api-keys", json={"name": "ci", "role": "pm"}, headers=owner)
    assert key.status_code == 201 and key.json()["token"].startswith("afk_")
    replay_headers = {**owner, "Idempotency-Key": "hook-1"}
    hook = await client.post("/v1/webhooks", json={"url": "https://hooks.example/in"}, headers=replay_headers)
    assert hook.status_code == 201 and hook.json()["secret"].startswith("whsec_")
    replay = await client.post("/v1/webhooks", json={"url": "https://hooks.example/in"}, headers=replay_headers)
    assert replay.headers.get("idempotent-replayed") == "true"
    rotated = await client.post(f"/v1/webhooks/{hook.json()['id']}/rotate-secret", headers=owner)
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    for response in (key, hook, replay, rotated):
        assert response.headers["cache-control"] == "no-store", response.request.url
        assert response.headers["x-content-type-options"] == "nosniff"


# ---- rate limits (item 10) -------------------------------------------------------------------------------------


async def test_per_key_request_limit_answers_429_and_spares_other_keys_and_tenants(
    make_client: MakeClient, org: OrgHandle, other_org: OrgHandle
) -> None:
    # One token per 100 s: nothing refills between the requests of this test.
    client = await make_client(api_rate_per_s=0.01, api_burst=3)
    for _ in range(3):
        assert (await client.get("/v1/org", headers=org.headers(Role.OWNER))).status_code == 200
    limited = await client.get("/v1/clients", headers=org.headers(Role.OWNER))
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 90 <= int(limited.headers["retry-after"]) <= 100
    assert limited.json()["type"].endswith("/rate-limited")
    # Another key of the same org, and another tenant, have their own buckets.
    assert (await client.get("/v1/org", headers=org.headers(Role.ADMIN))).status_code == 200
    assert (await client.get("/v1/org", headers=other_org.headers(Role.OWNER))).status_code == 200


async def test_failed_authentications_are_limited_per_source_and_claimed_org(
    make_client: MakeClient, org: OrgHandle, other_org: OrgHandle
) -> None:
    client = await make_client(auth_fail_rate_per_s=0.01, auth_fail_burst=5)
    _, _, prefix, _ = org.tokens[Role.OWNER].split("_")
    guess = {"Authorization": f"Bearer afk_{org.id.hex}_{prefix}_{'0' * 48}"}
    for _ in range(5):
        assert (await client.get("/v1/clients", headers=guess)).status_code == 401
    blocked = await client.get("/v1/clients", headers=guess)
    assert blocked.status_code == 429
    assert 90 <= int(blocked.headers["retry-after"]) <= 100
    assert blocked.headers["content-type"] == "application/problem+json"
    # Blocked before the lookup: even org A's real key from this address waits (the attacker's org only).
    assert (await client.get("/v1/clients", headers=org.headers(Role.OWNER))).status_code == 429
    # Another tenant behind the same address is not affected, nor are requests with no key at all.
    assert (await client.get("/v1/clients", headers=other_org.headers(Role.OWNER))).status_code == 200
    assert (await client.get("/v1/clients")).status_code == 401


async def test_requests_without_a_parsable_key_are_limited_too(make_client: MakeClient, org: OrgHandle) -> None:
    client = await make_client(auth_fail_rate_per_s=0.01, auth_fail_burst=2)
    assert (await client.get("/v1/clients", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    assert (await client.get("/v1/clients")).status_code == 401
    assert (await client.get("/v1/clients")).status_code == 429
    assert (await client.get("/v1/clients", headers=org.headers(Role.OWNER))).status_code == 200


def test_token_buckets_forget_least_recently_used_sources_beyond_their_bound() -> None:
    from api.rate_limits import TokenBuckets

    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=3)
    for source in ("a", "b", "c"):
        assert buckets.take(source, now=0.0) is None
    assert buckets.take("a", now=0.0) == pytest.approx(1.0)  # "a" is now the most recently used
    assert buckets.take("d", now=0.0) is None  # evicts "b", the least recently used
    assert set(buckets.buckets) == {"c", "a", "d"}
    assert buckets.wait("a", now=0.5) == pytest.approx(0.5)
    assert buckets.wait("b", now=0.5) is None


async def test_options_allows_every_method_the_path_serves_whichever_module_registered_it(client) -> None:
    # Litestar's automatic OPTIONS handler used to keep the first route made for a path: /v1/clients said
    # "GET, OPTIONS" though it also takes POST (found by the fuzzer's allow-header check).
    expected = {
        "/v1/clients": "GET, OPTIONS, POST",
        "/v1/clients/01a24688-fca4-70ca-ae87-9aea2f343a16": "DELETE, GET, OPTIONS, PATCH",
    }
    for path, allow in expected.items():
        answer = await client.options(path)
        assert answer.status_code == 204, answer.text
        assert answer.headers["allow"] == allow
