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
    temporal_port: int = 7233
    """gRPC port of the Temporal dev server ``agencyflow up`` embeds (unused when ``temporal_address`` is set)."""
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
    update_wait_s: float = 30.0
    """How long a request waits on a workflow Update (or signal) before answering 503 + Retry-After."""
    secret_keys: tuple[str, ...] = ()
    """Keys that seal stored secrets (``core.secret_box``); empty means ``<home>/secret.key``."""
    db_statement_timeout_ms: int = 60_000
    """The API's longest statement; PostgreSQL cancels it after this (``persistence.db.make_engine``)."""
    db_idle_in_transaction_timeout_ms: int = 30_000
    """How long an API transaction may sit idle before PostgreSQL ends its session (an abandoned request)."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (``api.cors``); empty (the default) turns CORS off."""
    api_rate_per_s: float = 100.0
    """Requests per second per API key and API process, on every route but ``/v1/events`` (its own limit)."""
    api_burst: int = 1000
    auth_fail_rate_per_s: float = 1.0
    """Failed authentications per second per client address and claimed organisation, before 429."""
    auth_fail_burst: int = 30
    smtp_url: str | None = None
    """Outgoing mail (``smtp://host:port``, ``smtps://user:pass@host``); unset: .eml files in ``<home>/outbox``."""
    mail_from: str = "agencyflow@localhost"
    public_url: str | None = None
    """Base URL people reach the app at, for links in mail; unset means ``http://<api_host>:<api_port>``."""
    platform_token: str | None = None
    """Bearer token of the platform operator (``POST /v1/platform/orgs``); unset turns that route off."""
    signup_enabled: bool = False
    session_idle_s: int = 1800
    session_absolute_s: int = 12 * 3600
    mfa_step_up_s: int = 600
    """How recent an MFA check must be for money actions (invoice approve/reject) by a session."""
    login_fail_limit: int = 5
    """Failed logins per account within ``login_lockout_s`` before that account is locked for the window."""
    login_source_fail_limit: int = 20
    """Failed logins per client address within ``login_lockout_s`` before that address is refused."""
    login_lockout_s: int = 900

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
    temporal_port = int(_env("AGENCYFLOW_TEMPORAL_PORT", "7233") or 7233)
    return Settings(
        home=home,
        database_url=_env("AGENCYFLOW_DATABASE_URL"),
        app_database_url=_env("AGENCYFLOW_APP_DATABASE_URL"),
        temporal_address=_env("AGENCYFLOW_TEMPORAL_ADDRESS"),
        temporal_namespace=_env("AGENCYFLOW_TEMPORAL_NAMESPACE", "default") or "default",
        task_queue=_env("AGENCYFLOW_TASK_QUEUE", "agencyflow") or "agencyflow",
        api_host=_env("AGENCYFLOW_API_HOST", "127.0.0.1") or "127.0.0.1",
        api_port=int(_env("AGENCYFLOW_API_PORT", "8000") or 8000),
        temporal_ui_port=int(_env("AGENCYFLOW_TEMPORAL_UI_PORT") or temporal_port + 1000),
        temporal_port=temporal_port,
        embedded_pg_port=int(_env("AGENCYFLOW_EMBEDDED_PG_PORT", "54329") or 54329),
        log_level=_env("AGENCYFLOW_LOG_LEVEL", "INFO") or "INFO",
        ledger_dir=Path(_env("AGENCYFLOW_LEDGER_DIR", str(home / "ledgers")) or home / "ledgers"),
        webhook_timeout_s=float(_env("AGENCYFLOW_WEBHOOK_TIMEOUT_S", "5") or 5),
        webhook_allow_private=(_env("AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE", "0") or "0").lower() in ("1", "true", "yes"),
        max_body_bytes=int(_env("AGENCYFLOW_MAX_BODY_BYTES", str(1024 * 1024)) or 1024 * 1024),
        events_max_body_bytes=int(_env("AGENCYFLOW_EVENTS_MAX_BODY_BYTES", str(16 * 1024 * 1024)) or 16 * 1024 * 1024),
        events_rate_per_s=float(_env("AGENCYFLOW_EVENTS_RATE_PER_S", "200") or 200),
        events_burst=int(_env("AGENCYFLOW_EVENTS_BURST", "400") or 400),
        update_wait_s=float(_env("AGENCYFLOW_UPDATE_WAIT_S", "30") or 30),
        secret_keys=tuple(k.strip() for k in (_env("AGENCYFLOW_SECRET_KEYS", "") or "").split(",") if k.strip()),
        db_statement_timeout_ms=int(_env("AGENCYFLOW_DB_STATEMENT_TIMEOUT_MS", "60000") or 60000),
        db_idle_in_transaction_timeout_ms=int(_env("AGENCYFLOW_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "30000") or 30000),
        cors_origins=tuple(o.strip() for o in (_env("AGENCYFLOW_CORS_ORIGINS", "") or "").split(",") if o.strip()),
        api_rate_per_s=float(_env("AGENCYFLOW_API_RATE_PER_S", "100") or 100),
        api_burst=int(_env("AGENCYFLOW_API_BURST", "1000") or 1000),
        auth_fail_rate_per_s=float(_env("AGENCYFLOW_AUTH_FAIL_RATE_PER_S", "1") or 1),
        auth_fail_burst=int(_env("AGENCYFLOW_AUTH_FAIL_BURST", "30") or 30),
        smtp_url=_env("AGENCYFLOW_SMTP_URL"),
        mail_from=_env("AGENCYFLOW_MAIL_FROM", "agencyflow@localhost") or "agencyflow@localhost",
        public_url=_env("AGENCYFLOW_PUBLIC_URL"),
        platform_token=_env("AGENCYFLOW_PLATFORM_TOKEN"),
        signup_enabled=(_env("AGENCYFLOW_SIGNUP_ENABLED", "0") or "0").lower() in ("1", "true", "yes"),
        session_idle_s=int(_env("AGENCYFLOW_SESSION_IDLE_S", "1800") or 1800),
        session_absolute_s=int(_env("AGENCYFLOW_SESSION_ABSOLUTE_S", "43200") or 43200),
        mfa_step_up_s=int(_env("AGENCYFLOW_MFA_STEP_UP_S", "600") or 600),
        login_fail_limit=int(_env("AGENCYFLOW_LOGIN_FAIL_LIMIT", "5") or 5),
        login_source_fail_limit=int(_env("AGENCYFLOW_LOGIN_SOURCE_FAIL_LIMIT", "20") or 20),
        login_lockout_s=int(_env("AGENCYFLOW_LOGIN_LOCKOUT_S", "900") or 900),
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
