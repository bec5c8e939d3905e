"""Process settings, read once from the environment.

Every process (API, worker, CLI, tests) reads the same variables so that a deployment is described by
one set of ``AGENCYFLOW_*`` values; nothing else is consulted at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec

APP_ROLE = "agencyflow_app"
OWNER_ROLE = "agencyflow_owner"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Resolved settings; ``None`` URLs mean "start the embedded component"."""

    home: Path
    database_url: str | None
    app_database_url: str | None
    temporal_address: str | None
    temporal_namespace: str
    task_queue: str
    api_host: str
    api_port: int
    temporal_ui_port: int
    embedded_pg_port: int
    log_level: str
    ledger_dir: Path
    webhook_timeout_s: float
    webhook_allow_private: bool
    """Deliver webhooks to private, loopback and link-local addresses too (``core.webhook_targets``)."""
    max_body_bytes: int
    events_max_body_bytes: int
    events_rate_per_s: float
    events_burst: int
    secret_keys: tuple[str, ...] = ()
    """Keys that seal stored secrets (``core.secret_box``); empty means ``<home>/secret.key``."""

    @property
    def pg_data_dir(self) -> Path:
        return self.home / "pg"

    @property
    def temporal_db_path(self) -> Path:
        return self.home / "temporal.db"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def load_settings() -> Settings:
    """Read ``AGENCYFLOW_*`` variables; defaults suit a single-machine ``make run``."""
    home = Path(_env("AGENCYFLOW_HOME", str(Path.cwd() / ".agencyflow")) or ".agencyflow").resolve()
    return Settings(
        home=home,
        database_url=_env("AGENCYFLOW_DATABASE_URL"),
        app_database_url=_env("AGENCYFLOW_APP_DATABASE_URL"),
        temporal_address=_env("AGENCYFLOW_TEMPORAL_ADDRESS"),
        temporal_namespace=_env("AGENCYFLOW_TEMPORAL_NAMESPACE", "default") or "default",
        task_queue=_env("AGENCYFLOW_TASK_QUEUE", "agencyflow") or "agencyflow",
        api_host=_env("AGENCYFLOW_API_HOST", "127.0.0.1") or "127.0.0.1",
        api_port=int(_env("AGENCYFLOW_API_PORT", "8000") or 8000),
        temporal_ui_port=int(_env("AGENCYFLOW_TEMPORAL_UI_PORT", "8233") or 8233),
        embedded_pg_port=int(_env("AGENCYFLOW_EMBEDDED_PG_PORT", "54329") or 54329),
        log_level=_env("AGENCYFLOW_LOG_LEVEL", "INFO") or "INFO",
        ledger_dir=Path(_env("AGENCYFLOW_LEDGER_DIR", str(home / "ledgers")) or home / "ledgers"),
        webhook_timeout_s=float(_env("AGENCYFLOW_WEBHOOK_TIMEOUT_S", "5") or 5),
        webhook_allow_private=(_env("AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE", "0") or "0").lower() in ("1", "true", "yes"),
        max_body_bytes=int(_env("AGENCYFLOW_MAX_BODY_BYTES", str(1024 * 1024)) or 1024 * 1024),
        events_max_body_bytes=int(_env("AGENCYFLOW_EVENTS_MAX_BODY_BYTES", str(16 * 1024 * 1024)) or 16 * 1024 * 1024),
        events_rate_per_s=float(_env("AGENCYFLOW_EVENTS_RATE_PER_S", "200") or 200),
        events_burst=int(_env("AGENCYFLOW_EVENTS_BURST", "400") or 400),
        secret_keys=tuple(k.strip() for k in (_env("AGENCYFLOW_SECRET_KEYS", "") or "").split(",") if k.strip()),
    )


def to_asyncpg_url(url: str) -> str:
    """SQLAlchemy needs the driver in the scheme; users paste plain ``postgresql://`` URLs."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def to_plain_url(url: str) -> str:
    """asyncpg and libpq want the scheme without the SQLAlchemy driver suffix."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_user(url: str, user: str, password: str | None = None) -> str:
    """Same server and database, another role: the app never connects as the table owner."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def app_url_for(admin_url: str) -> str:
    """The app role's URL: explicit setting wins, else the admin URL with the app role swapped in."""
    explicit = _env("AGENCYFLOW_APP_DATABASE_URL")
    if explicit:
        return explicit
    return with_user(admin_url, APP_ROLE, _env("AGENCYFLOW_APP_DB_PASSWORD"))
