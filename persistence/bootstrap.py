"""Create the database and the two roles the app needs, so a fresh server becomes usable in one step.

The owner role owns every table; the app role only reads and writes rows and can neither bypass nor
change row-level security. Migrations run as the owner (``SET ROLE``), the API and worker as the app role.
"""

from __future__ import annotations

import contextlib

import asyncpg

from core.settings import APP_ROLE, OWNER_ROLE, to_plain_url, with_database


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_roles(conn: asyncpg.Connection, app_password: str | None = None) -> None:
    """Idempotent and race-safe: concurrent test sessions may bootstrap the same server."""
    for role, options in (
        (OWNER_ROLE, "NOLOGIN NOSUPERUSER NOBYPASSRLS"),
        (APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
    ):
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateObjectError):
                await conn.execute(f"CREATE ROLE {_ident(role)} {options}")
    if app_password:
        await conn.execute(f"ALTER ROLE {_ident(APP_ROLE)} PASSWORD {_literal(app_password)}")
    current = await conn.fetchval("SELECT current_user")
    is_member = await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", OWNER_ROLE)
    if not is_member:
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f"GRANT {_ident(OWNER_ROLE)} TO {_ident(current)}")


async def ensure_database(admin_url: str, database: str, app_password: str | None = None) -> None:
    """Create roles and ``database`` (owned by the owner role) on the server behind ``admin_url``."""
    conn = await asyncpg.connect(to_plain_url(with_database(admin_url, "postgres")))
    try:
        await ensure_roles(conn, app_password)
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {_ident(database)} OWNER {_ident(OWNER_ROLE)}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(to_plain_url(with_database(admin_url, database)))
    try:
        await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {_ident(APP_ROLE)}")
        await conn.execute(f"GRANT USAGE ON SCHEMA public TO {_ident(APP_ROLE)}")
        await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {_ident(OWNER_ROLE)}")
    finally:
        await conn.close()


async def drop_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(to_plain_url(with_database(admin_url, "postgres")))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")
    finally:
        await conn.close()
