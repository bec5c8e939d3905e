"""The ``agencyflow`` command: run the product, its parts, and its admin tasks."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from cli.billing import app as billing_app
from cli.org import app as org_app
from cli.plan import plan as plan_command
from cli.secrets import app as secrets_app
from core.logging import configure_logging
from core.settings import load_settings

app = typer.Typer(
    name="agencyflow",
    help="Operations platform for AI and software agencies: engagements, capacity, time, usage and billing.",
    no_args_is_help=True,
    add_completion=False,
)
apikey_app = typer.Typer(help="Issue API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(billing_app, name="billing", help="Preview, simulate and validate contract billing (pure engine).")
app.add_typer(secrets_app, name="secrets")
app.add_typer(org_app, name="org")
app.command("plan")(plan_command)
console = Console()


@app.command()
def up(demo: Annotated[bool, typer.Option(help="Load demo data into an empty database.")] = True) -> None:
    """Start everything: PostgreSQL, Temporal, migrations, demo data, worker and API (what `make run` calls)."""
    from cli.up import run_stack

    raise typer.Exit(run_stack(load_settings(), with_demo=demo))


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    downgrade: Annotated[bool, typer.Option(help="Downgrade to REVISION instead of upgrading.")] = False,
) -> None:
    """Create roles and database if needed, then apply (or roll back) Alembic migrations."""
    from cli.database import prepare_database, start_postgres
    from persistence import migrate as migrations

    settings = load_settings()
    admin_url, _ = start_postgres(settings)
    if downgrade:
        migrations.downgrade(admin_url, revision)
        console.print(f"downgraded to {revision}")
        return
    prepare_database(admin_url, revision)
    console.print(f"database at {revision}")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default AGENCYFLOW_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AGENCYFLOW_API_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (stateless; one per core is typical).")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn)."""
    import uvicorn

    from api.app import create_app
    from core.runtime.postgres import port_is_free

    settings = load_settings()
    configure_logging(settings.log_level)
    host = host or settings.api_host
    port = port or settings.api_port
    if not port_is_free(host, port):
        console.print(
            f"[red]Port {host}:{port} is already in use.[/] Set AGENCYFLOW_API_PORT or stop the other program."
        )
        raise typer.Exit(2)
    uvicorn.run(
        create_app(settings, freeze_heap=True) if workers == 1 else "api.app:serve_app",
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker (all workflows and activities)."""
    from cli.worker import run_worker
    from core.runtime.endpoints import admin_database_url
    from core.settings import app_url_for

    settings = load_settings()
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings, app_url_for(admin_database_url(settings))))


@app.command()
def demo() -> None:
    """Load the demo agency into an empty database and print its API keys."""
    from cli.database import prepare_database, start_postgres
    from cli.demo import database_is_empty, load_demo, load_demo_usage, start_demo_engagements
    from cli.up import demo_key_path
    from core.runtime.endpoints import temporal_address
    from persistence.db import make_engine, make_sessionmaker

    settings = load_settings()
    admin_url, _ = start_postgres(settings)
    app_url = prepare_database(admin_url)

    async def run() -> None:
        admin = make_engine(admin_url, pool_size=1, max_overflow=0)
        async with make_sessionmaker(admin)() as session:
            empty = await database_is_empty(session)
        await admin.dispose()
        if not empty:
            console.print("The database already has data; demo not loaded.")
            return
        engine = make_engine(app_url, pool_size=2, max_overflow=0)
        sessionmaker = make_sessionmaker(engine)
        keys = await load_demo(sessionmaker)
        events = await load_demo_usage(sessionmaker, keys)
        console.print(f"{events} usage events loaded")
        try:
            started = await start_demo_engagements(sessionmaker, keys, temporal_address(settings), settings.task_queue)
            console.print(f"{started} demo engagements started")
        except Exception as exc:  # Temporal is optional for `demo`; `up` starts it
            console.print(f"[yellow]demo engagements not started ({type(exc).__name__}); run `agencyflow up`[/]")
        await engine.dispose()
        demo_key_path(settings).write_text(keys[0].token + "\n")
        for key in keys:
            console.print(f"{key.org_slug:10} org {key.org_id}  owner key {key.token}")

    asyncio.run(run())


@app.command()
def openapi(indent: Annotated[int, typer.Option(help="JSON indentation.")] = 2) -> None:
    """Print the OpenAPI 3.1 document."""
    from api.app import openapi_document

    document = msgspec.json.decode(msgspec.json.encode(openapi_document()))  # Decimal examples → JSON numbers
    sys.stdout.write(json.dumps(document, indent=indent or None) + "\n")


class KeyRole(StrEnum):
    owner = "owner"
    admin = "admin"
    finance = "finance"
    delivery_lead = "delivery_lead"
    pm = "pm"
    staff = "staff"
    client_viewer = "client_viewer"


@apikey_app.command("create")
def apikey_create(
    org: Annotated[str, typer.Option(help="Organisation slug or id.")],
    role: Annotated[KeyRole, typer.Option(help="Role the key acts with.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli key",
    scope: Annotated[list[str] | None, typer.Option(help="Scopes (repeatable): read, write, events:write.")] = None,
    client: Annotated[str | None, typer.Option(help="Client external key (client_viewer keys only).")] = None,
) -> None:
    """Issue an API key for an org and print the token (shown once)."""
    from cli.apikeys import CliError, create_key_for_org

    try:
        token = create_key_for_org(load_settings(), org, role.value, name, scope or ["read", "write"], client)
    except CliError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    print(token)  # plain: a token must never be wrapped or styled


def main() -> None:
    app()


if __name__ == "__main__":
    main()
