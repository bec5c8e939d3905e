"""Run Alembic programmatically: the CLI and the tests share one code path, no alembic.ini to find."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from core.settings import OWNER_ROLE

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def act_as_owner(bind: Connection) -> None:
    """Schema and cross-tenant data changes run as the table owner: an admin that is a member of the owner
    role switches to it for the rest of the session (a superuser that is not a member stays itself)."""
    is_member = bind.execute(sa.text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": OWNER_ROLE}).scalar()
    if is_member:
        bind.execute(sa.text(f'SET ROLE "{OWNER_ROLE}"'))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_heads(database_url: str) -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
