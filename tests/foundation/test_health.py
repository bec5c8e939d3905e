"""Liveness and readiness against the real PostgreSQL and Temporal."""

from __future__ import annotations

import msgspec

from api.app import create_app
from core.runtime.postgres import free_port
from core.settings import load_settings
from tests.conftest import asgi_client


async def test_healthz_needs_no_key(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_both_dependencies(client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "postgres": "ok", "temporal": "ok"}


async def test_readyz_is_503_when_temporal_is_unreachable(app_database_url) -> None:
    settings = msgspec.structs.replace(load_settings(), temporal_address=f"127.0.0.1:{free_port()}")
    app = create_app(settings, database_url=app_database_url)
    async with asgi_client(app) as test_client:
        response = await test_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["extra"]["postgres"] == "ok"
    assert body["extra"]["temporal"].startswith("error")


async def test_openapi_is_3_1_and_documents_problems(client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    post = schema["paths"]["/v1/clients"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ClientCreate")
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert "Problem" in schema["components"]["schemas"]
