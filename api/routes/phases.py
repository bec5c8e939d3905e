"""Project phases: the stages budgets, milestones, tasks and time are broken down by."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError, ValidationFailed
from api.project_scope import gate, load_project, require_manages
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Phase

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$", examples=["build"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Position = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class PhaseStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    DONE = "done"


class PhaseCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    position: Position = 0
    status: PhaseStatus = PhaseStatus.PLANNED
    start_date: date | None = None
    end_date: date | None = None

    def problems(self) -> list[FieldError]:
        return validators.date_order("/end_date", self.start_date, self.end_date)


class PhasePatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET
    status: PhaseStatus | msgspec.UnsetType = msgspec.UNSET
    start_date: date | msgspec.UnsetType | None = msgspec.UNSET
    end_date: date | msgspec.UnsetType | None = msgspec.UNSET


class PhaseOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    code: str
    name: str
    position: int
    status: str
    start_date: date | None
    end_date: date | None
    version: int
    created_at: datetime
    updated_at: datetime


def _check_dates(row: Phase) -> None:
    errors = validators.date_order("/end_date", row.start_date, row.end_date)
    if errors:
        raise ValidationFailed("end date is before start date", errors=errors)


async def load_phase(ctx: Ctx, phase_id: uuid.UUID, *, for_update: bool = False) -> Phase:
    row: Phase = await get_row(ctx, Phase, phase_id, "phase", for_update=for_update)
    await load_project(ctx, row.project_id)
    return row


@get("/projects/{project_id:uuid}/phases", opt={"action": "projects.read"}, summary="List a project's phases")
async def list_phases(ctx: Ctx, project_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None) -> Page[PhaseOut]:
    await load_project(ctx, project_id)
    return await list_page(ctx, select(Phase).where(Phase.project_id == project_id), Phase, PhaseOut, limit, cursor)


@post(
    "/projects/{project_id:uuid}/phases",
    opt={"action": "projects.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[PhaseCreate],
    return_dto=None,
    summary="Add a phase to a project",
    status_code=201,
)
async def create_phase(ctx: Ctx, project_id: uuid.UUID, data: PhaseCreate) -> Response[PhaseOut]:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Phase(org_id=ctx.org_id, project_id=project.id, **msgspec.structs.asdict(data))
        row.status = data.status.value
        return await create_row(ctx, row, PhaseOut, "phase", location="/v1/phases")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/phases/{phase_id:uuid}", opt={"action": "projects.read"}, summary="Get a phase")
async def get_phase(ctx: Ctx, phase_id: uuid.UUID) -> Response[PhaseOut]:
    return read_response(ctx, await load_phase(ctx, phase_id), PhaseOut)  # type: ignore[return-value]


@patch(
    "/phases/{phase_id:uuid}",
    opt={"action": "projects.write"},
    before_request=gate("project_phases", "phase_id", "phase"),
    dto=Body[PhasePatch],
    return_dto=None,
    summary="Update a phase (If-Match supported)",
)
async def update_phase(ctx: Ctx, phase_id: uuid.UUID, data: PhasePatch) -> Response[PhaseOut]:
    row = await load_phase(ctx, phase_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    return await patch_row(ctx, row, data, PhaseOut, "phase", check=_check_dates)  # type: ignore[return-value]


@delete("/phases/{phase_id:uuid}", opt={"action": "projects.write"}, summary="Delete a phase", status_code=204)
async def delete_phase(ctx: Ctx, phase_id: uuid.UUID) -> Response[None]:
    row = await load_phase(ctx, phase_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    return await delete_row(ctx, row, PhaseOut, "phase")  # type: ignore[return-value]


ROUTES = [list_phases, create_phase, get_phase, update_phase, delete_phase]
