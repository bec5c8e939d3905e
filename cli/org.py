"""``agencyflow org create`` / ``org delete``: a new organisation and its owner's one-time invite link; a soft
delete that writes the org's export first (``persistence.org_deletion``).

The org is written under its own row-level security (the app role, bound to the new org's id), exactly as
``POST /v1/platform/orgs`` does, through ``persistence.identity_store``. The invite is mailed (SMTP, or the
outbox when ``AGENCYFLOW_SMTP_URL`` is unset) and its link printed, since whoever runs the command is the
one setting the agency up. Synchronous on the outside for the reason ``cli.apikeys`` gives.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from cli.apikeys import CliError, resolve_org
from cli.database import prepare_database, start_postgres
from core.ids import new_id
from core.runtime.endpoints import temporal_address
from core.settings import Settings, load_settings
from identity.mailer import Mailer, MailError
from identity.messages import invite_link, invite_mail
from persistence import audit
from persistence import identity_store as store
from persistence.db import make_engine, make_sessionmaker, sqlstate, tenant_session
from persistence.org_deletion import DeletedOrg, delete_org
from workflows.org_stop import stop_org_workflows

STOP_TIMEOUT_S = 15.0

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CreatedOrg:
    org_id: str
    slug: str
    invite_url: str
    mailed: str
    """Where the invite went: ``smtp`` or the outbox file's path."""


def create_org(settings: Settings, *, name: str, slug: str, owner_email: str) -> CreatedOrg:
    if not name.strip() or len(name) > 200:
        raise CliError("--name must be 1 to 200 characters")
    if not SLUG.fullmatch(slug):
        raise CliError("--slug must be lower-case letters, digits and dashes (at most 63), e.g. acme-labs")
    if not EMAIL.fullmatch(owner_email) or len(owner_email) > 320:
        raise CliError(f"--owner-email {owner_email!r} is not an email address")
    admin_url, _ = start_postgres(settings)
    app_url = prepare_database(admin_url)
    return asyncio.run(_create(settings, app_url, name.strip(), slug, owner_email))


async def _create(settings: Settings, app_url: str, name: str, slug: str, owner_email: str) -> CreatedOrg:
    org_id = new_id()
    engine = make_engine(app_url, pool_size=1, max_overflow=0)
    try:
        async with tenant_session(make_sessionmaker(engine), org_id) as session:
            org, invite, token = await store.create_org_with_owner_invite(
                session, org_id=org_id, name=name, slug=slug, owner_email=owner_email, now=datetime.now(UTC)
            )
            await audit.record(
                session,
                org_id=org_id,
                actor=audit.Actor(type="cli", id="agencyflow org"),
                action="org.create",
                entity_type="org",
                entity_id=org_id,
                after={"slug": slug, "owner_email": invite.email},
            )
            link = invite_link(settings, token)
            subject, body = invite_mail(org.name, "owner", link, invite.expires_at)
            mailer = Mailer(smtp_url=settings.smtp_url, sender=settings.mail_from, outbox=settings.home / "outbox")
            try:
                path = await mailer.send(to=invite.email, subject=subject, body=body)
            except MailError as exc:
                raise CliError(f"{exc}; nothing was created") from None
    except IntegrityError as exc:
        if sqlstate(exc) == "23505":
            raise CliError(f"slug {slug!r} is taken") from None
        raise
    finally:
        await engine.dispose()
    return CreatedOrg(str(org_id), slug, link, "smtp" if path is None else str(path))


def delete_org_cli(settings: Settings, org: str) -> tuple[DeletedOrg, int | None]:
    """The deletion, then its engagements stopped (None: Temporal not reachable, run the command again)."""
    admin_url, _ = start_postgres(settings)
    app_url = prepare_database(admin_url)
    return asyncio.run(_delete(settings, admin_url, app_url, org))


async def _delete(settings: Settings, admin_url: str, app_url: str, org: str) -> tuple[DeletedOrg, int | None]:
    org_id = await resolve_org(admin_url, org)
    engine = make_engine(app_url, pool_size=1, max_overflow=0)
    try:
        async with tenant_session(make_sessionmaker(engine), org_id) as session:
            deleted = await delete_org(
                session,
                org_id,
                actor=audit.Actor(type="cli", id="agencyflow org delete"),
                exports_dir=settings.home / "exports",
                now=datetime.now(UTC),
            )
    finally:
        await engine.dispose()
    return deleted, await _stop_workflows(settings, org_id)


async def _stop_workflows(settings: Settings, org_id: uuid.UUID) -> int | None:
    try:
        client = await asyncio.wait_for(
            Client.connect(temporal_address(settings), namespace=settings.temporal_namespace), timeout=STOP_TIMEOUT_S
        )
        return await asyncio.wait_for(stop_org_workflows(client, org_id), timeout=STOP_TIMEOUT_S)
    except Exception:  # reported to the operator, who runs the command again once Temporal is up
        return None


app = typer.Typer(help="Create and delete organisations (agencies).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="The agency's name.")],
    slug: Annotated[str, typer.Option(help="Short unique name: lower-case letters, digits, dashes.")],
    owner_email: Annotated[str, typer.Option(help="Who becomes its owner; they get a one-time invite link.")],
) -> None:
    """Create an organisation and print its owner's one-time invite link (also mailed to them)."""
    try:
        created = create_org(load_settings(), name=name, slug=slug, owner_email=owner_email)
    except CliError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    err = Console(stderr=True)
    err.print(
        f"organisation {created.slug} ({created.org_id}) created; invite mailed via {created.mailed}",
        soft_wrap=True,
        highlight=False,
    )
    print(created.invite_url)  # plain on stdout: a link must never be wrapped or styled


@app.command("delete")
def delete(
    org: Annotated[str, typer.Argument(help="The organisation's slug or id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: nobody can sign in to it afterwards.")] = False,
) -> None:
    """Export an organisation's data, then soft-delete it: its keys, sessions and invites stop at once."""
    err = Console(stderr=True)
    if not yes:
        err.print(f"deleting {org} locks everyone out of it; run again with --yes to confirm", highlight=False)
        raise typer.Exit(1)
    settings = load_settings()
    try:
        deleted, stopped = delete_org_cli(settings, org)
    except CliError as exc:
        err.print(f"[red]{exc}[/]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    state = "was already deleted" if deleted.already else "deleted"
    err.print(
        f"organisation {deleted.slug} ({deleted.org_id}) {state} at {deleted.deleted_at.isoformat()}; "
        f"export sha256 {deleted.export_sha256}",
        soft_wrap=True,
        highlight=False,
    )
    if stopped is None:
        err.print(
            f"[yellow]Temporal at {temporal_address(settings)} did not answer: its engagements are still running; "
            "run this command again once it is up to stop them[/]",
            soft_wrap=True,
            highlight=False,
        )
    else:
        err.print(f"stopped {stopped} running engagement and billing workflows", highlight=False)
    print(settings.home / "exports" / deleted.export_name)
