"""Project-scoped access for the projects/time/expenses routes.

* **Whose project.** Owners, admins and delivery leads act on every project; finance reads every project
  (and approves expenses, edits budgets and rate cards everywhere). A ``pm`` acts only on the projects it
  manages: those where the key's person (``people.user_id`` = the key's user) is a ``manager`` member.
  A pm key not bound to a person manages nothing.
* **Whose time.** Staff (and anyone acting on their own entries) read and write only the entries and
  expenses of their own person; someone else's entry is simply not found (404).
* **404 before the body.** Id-taking routes with a request body run :func:`gate` as their
  ``before_request``: after authentication it checks that the id exists in the caller's organisation
  (and, for a client_viewer, belongs to its client) — so another tenant's id answers 404, never 422.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Request
from sqlalchemy import text

from api.auth import authenticate
from api.context import Ctx
from api.decoding import decode_json
from api.member_scope import project_in_reach, project_reach
from api.problems import Forbidden, not_found
from api.resources import get_row
from core.permissions import Role
from persistence.db import set_tenant
from persistence.models import Person, Project
from persistence.project_access import managed_project_ids, person_for_user

T = TypeVar("T")
ALL_PROJECTS = frozenset({Role.OWNER, Role.ADMIN, Role.DELIVERY_LEAD, Role.FINANCE})

_GATES: dict[str, str] = {
    "projects": "SELECT client_id, id AS project_id FROM projects WHERE id = :id",
    "clients": "SELECT id AS client_id, NULL::uuid AS project_id FROM clients WHERE id = :id",
    "timesheets": "SELECT NULL::uuid AS client_id, NULL::uuid AS project_id FROM timesheets WHERE id = :id",
}
for _table in ("project_phases", "milestones", "tasks", "time_entries", "expenses"):
    _GATES[_table] = (
        f"SELECT p.client_id, x.project_id FROM {_table} x JOIN projects p ON p.id = x.project_id WHERE x.id = :id"
    )


def _visible(principal: Any, table: str, row: Any) -> bool:
    if principal.role is Role.CLIENT_VIEWER:
        return bool(row.client_id == principal.client_id)
    if not principal.scoped:
        return True
    if table == "clients":
        return row.client_id in principal.scope_clients
    return row.project_id is None or project_in_reach(principal, row.project_id, row.client_id)


def gate(table: str, param: str, entity: str) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A ``before_request`` hook: authenticate, then 404 unless ``path_params[param]`` is visible."""
    sql = text(_GATES[table])

    async def hook(request: Request[Any, Any, Any]) -> None:
        await authenticate(request)
        principal = request.state.principal
        row_id = request.path_params[param]
        async with request.app.state.sessionmaker() as session, session.begin():
            await set_tenant(session, principal.org_id)
            row = (await session.execute(sql, {"id": row_id})).first()
        if row is None or not _visible(principal, table, row):
            raise not_found(entity, row_id)

    return hook


async def me(ctx: Ctx) -> Person | None:
    """The person this key acts for (cached for the request)."""
    state = ctx.request.state
    if not hasattr(state, "af_person"):
        state.af_person = await person_for_user(ctx.session, ctx.principal.user_id)
    person: Person | None = state.af_person
    return person


async def require_me(ctx: Ctx) -> Person:
    person = await me(ctx)
    if person is None:
        raise Forbidden("this API key is not bound to a person (issue it for a user who is a person here)")
    return person


async def managed(ctx: Ctx) -> set[uuid.UUID] | None:
    """Projects the caller may act on as a manager: None means all of them. A scoped membership
    (``api.member_scope``) narrows either answer to the projects in its reach."""
    reach = await project_reach(ctx)
    if ctx.principal.role in ALL_PROJECTS:
        return None if reach is None else set(reach)
    if ctx.principal.role is not Role.PM:
        return set()
    state = ctx.request.state
    if not hasattr(state, "af_managed"):
        person = await me(ctx)
        state.af_managed = await managed_project_ids(ctx.session, person.id if person else None)
    projects: set[uuid.UUID] = state.af_managed
    return projects if reach is None else projects & reach


async def manages(ctx: Ctx, project_id: uuid.UUID) -> bool:
    scope = await managed(ctx)
    return scope is None or project_id in scope


async def require_manages(ctx: Ctx, project: Project) -> None:
    if not await manages(ctx, project.id):
        raise Forbidden(f"you do not manage project {project.code}")


async def load_project(ctx: Ctx, project_id: uuid.UUID, *, for_update: bool = False) -> Project:
    row: Project = await get_row(ctx, Project, project_id, "project", for_update=for_update)
    return row


def optional_body(raw: bytes, type_: type[T]) -> T:
    """Decode an optional JSON body (empty means all defaults) with the strict, every-field decoder."""
    return decode_json(raw if raw.strip() else b"{}", type_)


def builtins(value: object) -> Any:
    return msgspec.to_builtins(value)
