"""Projects: a client's engagement, its dates, status and how it is billed."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.params import FromQuery
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError, ValidationFailed
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Client, Project, ProjectMember
from persistence.project_access import person_for_user

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$", examples=["ACME-AI-01"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class BillingMode(StrEnum):
    TIME_AND_MATERIALS = "t_and_m"
    RETAINER = "retainer"
    FIXED_FEE = "fixed_fee"
    USAGE = "usage"
    MIXED = "mixed"


class ProjectStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProjectCreate(msgspec.Struct, forbid_unknown_fields=True):
    client_id: uuid.UUID
    code: Code
    name: Name
    billing_mode: BillingMode
    status: ProjectStatus = ProjectStatus.ACTIVE
    start_date: date | None = None
    end_date: date | None = None

    def problems(self) -> list[FieldError]:
        return validators.date_order("/end_date", self.start_date, self.end_date)


class ProjectPatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    billing_mode: BillingMode | msgspec.UnsetType = msgspec.UNSET
    status: ProjectStatus | msgspec.UnsetType = msgspec.UNSET
    start_date: date | msgspec.UnsetType | None = msgspec.UNSET
    end_date: date | msgspec.UnsetType | None = msgspec.UNSET


class ProjectOut(msgspec.Struct):
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    name: str
    billing_mode: str
    status: str
    start_date: date | None
    end_date: date | None
    version: int
    created_at: datetime
    updated_at: datetime


def _check_dates(row: Project) -> None:
    errors = validators.date_order("/end_date", row.start_date, row.end_date)
    if errors:
        raise ValidationFailed("end date is before start date", errors=errors)


@get("/projects", opt={"action": "projects.read"}, summary="List projects")
async def list_projects(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    client_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[ProjectStatus | None] = None,
) -> Page[ProjectOut]:
    query = select(Project)
    if client_id is not None:
        query = query.where(Project.client_id == client_id)
    if status is not None:
        query = query.where(Project.status == status.value)
    return await list_page(ctx, query, Project, ProjectOut, limit, cursor)


@post(
    "/projects",
    opt={"action": "projects.write"},
    dto=Body[ProjectCreate],
    return_dto=None,
    summary="Create a project",
    status_code=201,
)
async def create_project(ctx: Ctx, data: ProjectCreate) -> Response[ProjectOut]:
    await get_row(ctx, Client, data.client_id, "client")

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Project(
            org_id=ctx.org_id,
            client_id=data.client_id,
            code=data.code,
            name=data.name,
            billing_mode=data.billing_mode.value,
            status=data.status.value,
            start_date=data.start_date,
            end_date=data.end_date,
        )
        created = await create_row(ctx, row, ProjectOut, "project", location="/v1/projects")
        # Whoever creates a project manages it: a pm could otherwise not touch the project it just made.
        person = await person_for_user(ctx.session, ctx.principal.user_id)
        if person is not None:
            ctx.session.add(ProjectMember(org_id=ctx.org_id, project_id=row.id, person_id=person.id, role="manager"))
            await ctx.session.flush()
        return created

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/projects/{project_id:uuid}", opt={"action": "projects.read"}, summary="Get a project")
async def get_project(ctx: Ctx, project_id: uuid.UUID) -> Response[ProjectOut]:
    row = await get_row(ctx, Project, project_id, "project")
    return read_response(ctx, row, ProjectOut)  # type: ignore[return-value]


@patch(
    "/projects/{project_id:uuid}",
    opt={"action": "projects.write"},
    dto=Body[ProjectPatch],
    return_dto=None,
    summary="Update a project (If-Match supported)",
)
async def update_project(ctx: Ctx, project_id: uuid.UUID, data: ProjectPatch) -> Response[ProjectOut]:
    row = await get_row(ctx, Project, project_id, "project", for_update=True)
    return await patch_row(ctx, row, data, ProjectOut, "project", check=_check_dates)  # type: ignore[return-value]


@delete(
    "/projects/{project_id:uuid}",
    opt={"action": "projects.write"},
    summary="Delete a project",
    status_code=204,
)
async def delete_project(ctx: Ctx, project_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, Project, project_id, "project", for_update=True)
    return await delete_row(ctx, row, ProjectOut, "project")  # type: ignore[return-value]


ROUTES = [list_projects, create_project, get_project, update_project, delete_project]
