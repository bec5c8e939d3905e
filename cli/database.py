"""Getting a usable database: start the embedded server if no URL is configured, create roles and the
database, apply migrations. Every CLI entry point that touches PostgreSQL goes through here."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from core.runtime.endpoints import admin_database_url
from core.runtime.postgres import EmbeddedPostgres
from core.settings import Settings, app_url_for
from persistence import migrate
from persistence.bootstrap import ensure_database


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.pg_data_dir, settings.embedded_pg_port)


def start_postgres(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """Return the admin URL of the product database, and the embedded server if we started one."""
    if settings.database_url:
        return settings.database_url, None
    settings.home.mkdir(parents=True, exist_ok=True)
    server = embedded_server(settings)
    server.start()
    return admin_database_url(settings), server


def prepare_database(admin_url: str, revision: str = "head") -> str:
    """Bootstrap + migrate (to ``revision``); returns the app-role URL the API and worker connect with."""
    database = urlsplit(admin_url).path.lstrip("/") or "agencyflow"
    asyncio.run(ensure_database(admin_url, database))
    migrate.upgrade(admin_url, revision)
    return app_url_for(admin_url)
