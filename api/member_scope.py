"""Memberships scoped to some clients and projects: what such a member reaches, applied in the few shared places.

A scope narrows a role, it never widens it. Named clients bring every one of their projects; named projects
bring only themselves (not their client's contracts or invoices). Client-owned rows (clients, sites,
contracts, invoices, usage) are filtered by the clients, project-owned rows (projects and their phases,
tasks, milestones, time, expenses) by the projects; anything out of reach is simply not found (404), as
another tenant's id is. Routes that span the organisation are refused up front (``core.permissions.
SCOPED_ACTIONS``, checked in ``api.auth``), so this module only has to cover the per-client/per-project ones:
``api.resources`` (fetch and list), ``api.project_scope`` (gates and managed projects), invoices and usage.
A client_viewer is the special case of one client and no projects.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from sqlalchemy import select

from api.context import Ctx
from api.problems import FieldError, ValidationFailed
from core.permissions import UNSCOPABLE_ROLES, Role
from persistence.models import Client, Project

NO_CLIENT = uuid.UUID(int=0)
ScopeIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=500)]


def client_reach(ctx: Ctx) -> frozenset[uuid.UUID] | None:
    """The clients whose rows the caller may see; None means every client."""
    principal = ctx.principal
    if principal.role is Role.CLIENT_VIEWER:
        return frozenset({principal.client_id or NO_CLIENT})
    return principal.scope_clients


def project_in_reach(principal: Any, project_id: uuid.UUID | None, client_id: uuid.UUID | None) -> bool:
    """For a scoped principal, whether a project (known with its client) is in reach, without a query."""
    if not principal.scoped:
        return True
    return project_id in principal.scope_projects or client_id in principal.scope_clients


async def project_reach(ctx: Ctx) -> frozenset[uuid.UUID] | None:
    """The projects a scoped member may act on (named ones plus every project of a named client); None when
    the membership is not scoped. Read once per request."""
    principal = ctx.principal
    if not principal.scoped:
        return None
    state = ctx.request.state
    if not hasattr(state, "af_project_reach"):
        projects = set(principal.scope_projects or ())
        if principal.scope_clients:
            query = select(Project.id).where(Project.client_id.in_(principal.scope_clients))
            projects |= set((await ctx.session.execute(query)).scalars())
        state.af_project_reach = frozenset(projects)
    reach: frozenset[uuid.UUID] = state.af_project_reach
    return reach


async def narrow(ctx: Ctx, query: Any, model: Any) -> Any:
    """The one filter every fetch-by-id and list of a tenant resource applies (``api.resources``)."""
    clients = client_reach(ctx)
    projects = await project_reach(ctx)
    table = model.__tablename__
    if table == "projects" and projects is not None:
        return query.where(model.id.in_(projects))
    if table == "clients":
        return query if clients is None else query.where(model.id.in_(clients))
    if hasattr(model, "client_id") and clients is not None:
        return query.where(model.client_id.in_(clients))
    if hasattr(model, "project_id") and projects is not None:
        return query.where(model.project_id.in_(projects))
    return query


def scope_problems(role: Role, clients: list[uuid.UUID], projects: list[uuid.UUID]) -> list[FieldError]:
    """The rules a scope obeys on its own (memberships and invites alike)."""
    errors = []
    for name, ids in (("scope_client_ids", clients), ("scope_project_ids", projects)):
        if ids and role in UNSCOPABLE_ROLES:
            errors.append(FieldError(pointer=f"/{name}", detail=f"a {role.value} cannot be scoped"))
        if len(set(ids)) != len(ids):
            errors.append(FieldError(pointer=f"/{name}", detail="lists an id twice"))
    return errors


async def check_scope_ids(ctx: Ctx, clients: list[uuid.UUID], projects: list[uuid.UUID]) -> None:
    """Every scoped id must be one of this org's clients or projects (RLS hides everyone else's)."""
    errors = []
    for name, model, ids in (("scope_client_ids", Client, clients), ("scope_project_ids", Project, projects)):
        if not ids:
            continue
        found = set((await ctx.session.execute(select(model.id).where(model.id.in_(ids)))).scalars())
        entity = "client" if model is Client else "project"
        errors += [
            FieldError(pointer=f"/{name}/{i}", detail=f"no {entity} {value}")
            for i, value in enumerate(ids)
            if value not in found
        ]
    if errors:
        raise ValidationFailed("the scope names unknown ids", errors=errors)
