"""Project members: who works on a project and who manages it (a ``manager`` is the project's PM).

A pm may change the members of projects it manages (including adding managers); owners, admins and
delivery leads may change any project's. Only internal roles see the member list.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import msgspec
from litestar import Response, delete, get, put
from litestar.openapi import ResponseSpec
from sqlalchemy import select

from api.context import Ctx
from api.dto import Body
from api.etags import etag_for
from api.idempotency import json_response
from api.pagination import Cursor, Limit, Page
from api.problems import not_found
from api.project_scope import gate, load_project, require_manages
from api.resources import get_row, list_page, state_of
from persistence.models import Person, ProjectMember


class MemberRole(StrEnum):
    MANAGER = "manager"
    MEMBER = "member"


class MemberPut(msgspec.Struct, forbid_unknown_fields=True):
    role: MemberRole = MemberRole.MEMBER


class MemberOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    person_id: uuid.UUID
    role: str
    version: int
    created_at: datetime


@get("/projects/{project_id:uuid}/members", opt={"action": "people.read"}, summary="List a project's members")
async def list_members(ctx: Ctx, project_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None) -> Page[MemberOut]:
    await load_project(ctx, project_id)
    query = select(ProjectMember).where(ProjectMember.project_id == project_id)
    return await list_page(ctx, query, ProjectMember, MemberOut, limit, cursor)


@put(
    "/projects/{project_id:uuid}/members/{person_id:uuid}",
    opt={"action": "projects.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[MemberPut],
    return_dto=None,
    summary="Add a person to a project, or change their role on it",
    responses={201: ResponseSpec(MemberOut, description="The person was added to the project (200: role changed)")},
)
async def put_member(ctx: Ctx, project_id: uuid.UUID, person_id: uuid.UUID, data: MemberPut) -> Response[MemberOut]:
    project = await load_project(ctx, project_id, for_update=True)
    await require_manages(ctx, project)
    await get_row(ctx, Person, person_id, "person")
    row = (
        await ctx.session.execute(
            select(ProjectMember)
            .where(ProjectMember.project_id == project_id, ProjectMember.person_id == person_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    before = None if row is None else state_of(row, MemberOut)
    status = 200
    if row is None:
        row = ProjectMember(org_id=ctx.org_id, project_id=project_id, person_id=person_id, role=data.role.value)
        ctx.session.add(row)
        status = 201
    else:
        row.role = data.role.value
    await ctx.session.flush()
    await ctx.audit("project_member.put", "project_member", row.id, before=before, after=state_of(row, MemberOut))
    out = msgspec.convert(row, MemberOut, from_attributes=True)
    return json_response(status, out, {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@delete(
    "/projects/{project_id:uuid}/members/{person_id:uuid}",
    opt={"action": "projects.write"},
    summary="Remove a person from a project",
    status_code=204,
)
async def delete_member(ctx: Ctx, project_id: uuid.UUID, person_id: uuid.UUID) -> Response[None]:
    project = await load_project(ctx, project_id, for_update=True)
    await require_manages(ctx, project)
    row = (
        await ctx.session.execute(
            select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.person_id == person_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("project member", person_id)
    before = state_of(row, MemberOut)
    await ctx.session.delete(row)
    await ctx.session.flush()
    await ctx.audit("project_member.delete", "project_member", row.id, before=before)
    return Response(b"", status_code=204)  # type: ignore[return-value]


ROUTES = [list_members, put_member, delete_member]
