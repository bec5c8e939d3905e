"""``agencyflow secrets``: make a sealing key, and move every sealed secret to the first configured key.

Rotation: put a new key first in ``AGENCYFLOW_SECRET_KEYS`` (``new-key,old-key``), restart the API and the
worker (both now open either), run ``agencyflow secrets reseal``, then drop the old key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer
from rich.console import Console

from core.secret_box import new_key, secret_box
from core.settings import load_settings

app = typer.Typer(help="Keys that seal stored secrets (webhook signing secrets).", no_args_is_help=True)
console = Console()


@app.command("new-key")
def make_key() -> None:
    """Print a fresh key for AGENCYFLOW_SECRET_KEYS."""
    print(new_key())


@app.command()
def reseal() -> None:
    """Re-seal every stored secret with the first configured key, so the others can be retired."""
    from cli.database import start_postgres

    settings = load_settings()
    admin_url, _ = start_postgres(settings)
    count = asyncio.run(_reseal(admin_url, secret_box(settings).reseal))
    console.print(f"resealed {count} secrets with the first key")


async def _reseal(admin_url: str, transform: Callable[[str], str]) -> int:
    from persistence.db import make_engine
    from persistence.migrate import act_as_owner
    from persistence.sealed_secrets import rewrite_sealed

    engine = make_engine(admin_url, pool_size=1, max_overflow=0)  # disposed below, role switch and all
    try:
        async with engine.begin() as conn:
            await conn.run_sync(act_as_owner)
            return await conn.run_sync(rewrite_sealed, transform)
    finally:
        await engine.dispose()
