"""Where PostgreSQL and Temporal are, for any process: explicit settings first, the embedded ones otherwise."""

from __future__ import annotations

from core.settings import Settings, with_database

APP_DATABASE = "agencyflow"


def admin_database_url(settings: Settings) -> str:
    """The owner/admin URL of the product database (migrations, bootstrap, demo)."""
    if settings.database_url:
        return settings.database_url
    return with_database(f"postgresql://postgres@127.0.0.1:{settings.embedded_pg_port}/postgres", APP_DATABASE)


def temporal_address(settings: Settings) -> str:
    """The configured frontend, else the dev server ``agencyflow up`` embeds on ``AGENCYFLOW_TEMPORAL_PORT``."""
    return settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
