"""Issuing a key from the command line: the org is looked up by the admin role (its id is not yet known
to any tenant context), the key is then written under that org's row-level security.

``create_key_for_org`` is synchronous on purpose: getting the database ready (``prepare_database``) runs
its own event loop, which cannot start inside another one, so it runs first and only the key's writes run
in ``asyncio.run`` (they used to share one loop, and every ``agencyflow apikey create`` crashed).
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, text

from cli.database import prepare_database, start_postgres
from core.permissions import Role, Scope
from core.settings import Settings
from persistence import audit
from persistence.api_key_store import issue_key
from persistence.db import make_engine, make_sessionmaker, tenant_session
from persistence.models import Client


class CliError(RuntimeError):
    pass


def create_key_for_org(
    settings: Settings, org: str, role: str, name: str, scopes: list[str], client_key: str | None
) -> str:
    """Start or reach PostgreSQL, migrate it, and issue the key; returns the token (shown once)."""
    for scope in scopes:
        try:
            Scope(scope)
        except ValueError:
            raise CliError(f"no scope {scope!r}; one of {', '.join(s.value for s in Scope)}") from None
    admin_url, _ = start_postgres(settings)
    app_url = prepare_database(admin_url)
    return asyncio.run(_issue(admin_url, app_url, org, role, name, scopes, client_key))


async def resolve_org(admin_url: str, org: str) -> uuid.UUID:
    """An org's id from its slug or id, read as the admin (no tenant is bound yet to read it under)."""
    admin = make_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with admin.connect() as conn:
            try:
                org_uuid = uuid.UUID(org)
                row = (await conn.execute(text("SELECT id FROM orgs WHERE id = :v"), {"v": org_uuid})).first()
            except ValueError:
                row = (await conn.execute(text("SELECT id FROM orgs WHERE slug = :v"), {"v": org})).first()
    finally:
        await admin.dispose()
    if row is None:
        raise CliError(f"no organisation {org!r}")
    org_id: uuid.UUID = row[0]
    return org_id


async def _issue(
    admin_url: str, app_url: str, org: str, role: str, name: str, scopes: list[str], client_key: str | None
) -> str:
    org_id = await resolve_org(admin_url, org)
    engine = make_engine(app_url, pool_size=1, max_overflow=0)
    try:
        async with tenant_session(make_sessionmaker(engine), org_id) as session:
            client_id = None
            if client_key:
                client_id = (
                    await session.execute(select(Client.id).where(Client.external_key == client_key))
                ).scalar_one_or_none()
                if client_id is None:
                    raise CliError(f"no client {client_key!r} in {org}")
            if Role(role) is Role.CLIENT_VIEWER and client_id is None:
                raise CliError("a client_viewer key needs --client")
            key, token = await issue_key(
                session, org_id=org_id, name=name, role=role, scopes=scopes, client_id=client_id
            )
            await audit.record(
                session,
                org_id=org_id,
                actor=audit.Actor(type="cli", id="agencyflow apikey"),
                action="api_key.create",
                entity_type="api_key",
                entity_id=key.id,
                detail={"role": role, "scopes": scopes},
            )
    finally:
        await engine.dispose()
    return token
