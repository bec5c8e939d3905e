"""Liveness and readiness: ``/healthz`` says the process runs, ``/readyz`` that its dependencies answer."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Request, Response, get
from sqlalchemy import text

from api.problems import ProblemError


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    postgres: str
    temporal: str


@get("/healthz", opt={"public": True}, include_in_schema=True, summary="Process is up")
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", opt={"public": True}, summary="PostgreSQL and Temporal are reachable")
async def readyz(request: Request) -> Response[Readiness]:
    state = request.app.state

    async def check_postgres() -> str:
        try:
            async with state.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
            return "ok"
        except Exception as exc:
            return f"error: {type(exc).__name__}"

    async def check_temporal() -> str:
        try:
            client = await asyncio.wait_for(state.temporal_client(), timeout=3)
            await asyncio.wait_for(client.service_client.check_health(), timeout=3)
            return "ok"
        except Exception as exc:
            return f"error: {type(exc).__name__}"

    postgres, temporal = await asyncio.gather(check_postgres(), check_temporal())
    if postgres == "ok" and temporal == "ok":
        return Response(Readiness(status="ready", postgres=postgres, temporal=temporal))
    raise ProblemError(
        "a dependency is not reachable",
        status=503,
        slug="not-ready",
        title="Service not ready",
        extra={"postgres": postgres, "temporal": temporal},
    )
