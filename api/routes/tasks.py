"""Tasks: assignee, estimate, status — and the hours logged against each, for progress and health."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.params import FromQuery
from sqlalchemy import func, select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for, not_modified
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import FieldError, ValidationFailed
from api.project_scope import gate, load_project, require_manages
from api.resources import delete_row, get_row, state_of
from insights.money import hours_of, round_hours
from persistence.models import Person, Phase, Task, TimeEntry

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Hours = Annotated[Decimal, msgspec.Meta(description="estimated hours, 0 to 100000")]
CHECKS = {"estimate_hours": validators.decimal_between(Decimal(0), Decimal(100_000))}


class TaskStatus(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    description: str | None = None
    phase_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    estimate_hours: Hours | None = None
    status: TaskStatus = TaskStatus.TODO
    due_date: date | None = None

    __field_checks__: ClassVar = CHECKS


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    phase_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    assignee_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    estimate_hours: Hours | msgspec.UnsetType | None = msgspec.UNSET
    status: TaskStatus | msgspec.UnsetType = msgspec.UNSET
    due_date: date | msgspec.UnsetType | None = msgspec.UNSET

    __field_checks__: ClassVar = CHECKS


class TaskOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    phase_id: uuid.UUID | None
    title: str
    description: str | None
    assignee_id: uuid.UUID | None
    estimate_hours: Decimal | None
    status: str
    due_date: date | None
    logged_hours: Decimal
    remaining_hours: Decimal | None
    version: int
    created_at: datetime
    updated_at: datetime


class _TaskState(msgspec.Struct):
    """What the audit digests: the task's own fields."""

    id: uuid.UUID
    project_id: uuid.UUID
    phase_id: uuid.UUID | None
    title: str
    assignee_id: uuid.UUID | None
    estimate_hours: Decimal | None
    status: str
    due_date: date | None
    version: int


async def _logged(ctx: Ctx, task_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    if not task_ids:
        return {}
    rows = await ctx.session.execute(
        select(TimeEntry.task_id, func.sum(TimeEntry.minutes))
        .where(TimeEntry.task_id.in_(task_ids))
        .group_by(TimeEntry.task_id)
    )
    return {task_id: minutes for task_id, minutes in rows.all()}


def _out(row: Task, minutes: Decimal | None) -> TaskOut:
    logged = round_hours(hours_of(minutes or Decimal(0)))
    return TaskOut(
        id=row.id,
        project_id=row.project_id,
        phase_id=row.phase_id,
        title=row.title,
        description=row.description,
        assignee_id=row.assignee_id,
        estimate_hours=row.estimate_hours,
        status=row.status,
        due_date=row.due_date,
        logged_hours=logged,
        remaining_hours=None if row.estimate_hours is None else row.estimate_hours - logged,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _check_refs(ctx: Ctx, project_id: uuid.UUID, phase_id: Any, assignee_id: Any) -> None:
    errors = []
    if isinstance(phase_id, uuid.UUID):
        phase = (await ctx.session.execute(select(Phase.project_id).where(Phase.id == phase_id))).scalar()
        if phase != project_id:
            errors.append(FieldError(pointer="/phase_id", detail="no such phase in this project"))
    if isinstance(assignee_id, uuid.UUID):
        found = (await ctx.session.execute(select(Person.id).where(Person.id == assignee_id))).scalar()
        if found is None:
            errors.append(FieldError(pointer="/assignee_id", detail="no such person"))
    if errors:
        raise ValidationFailed("the task refers to unknown records", errors=errors)


async def load_task(ctx: Ctx, task_id: uuid.UUID, *, for_update: bool = False) -> Task:
    row: Task = await get_row(ctx, Task, task_id, "task", for_update=for_update)
    await load_project(ctx, row.project_id)
    return row


@get("/projects/{project_id:uuid}/tasks", opt={"action": "tasks.read"}, summary="List a project's tasks")
async def list_tasks(
    ctx: Ctx,
    project_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: FromQuery[TaskStatus | None] = None,
    assignee_id: FromQuery[uuid.UUID | None] = None,
    phase_id: FromQuery[uuid.UUID | None] = None,
) -> Page[TaskOut]:
    await load_project(ctx, project_id)
    query = select(Task).where(Task.project_id == project_id)
    if status is not None:
        query = query.where(Task.status == status.value)
    if assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    if phase_id is not None:
        query = query.where(Task.phase_id == phase_id)
    rows = (await ctx.session.execute(paginate(query, Task.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    logged = await _logged(ctx, [t.id for t in items])
    return Page(items=[_out(t, logged.get(t.id)) for t in items], next_cursor=next_cursor)


@post(
    "/projects/{project_id:uuid}/tasks",
    opt={"action": "tasks.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[TaskCreate],
    return_dto=None,
    summary="Create a task",
    status_code=201,
)
async def create_task(ctx: Ctx, project_id: uuid.UUID, data: TaskCreate) -> Response[TaskOut]:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    await _check_refs(ctx, project.id, data.phase_id, data.assignee_id)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Task(org_id=ctx.org_id, project_id=project.id, **msgspec.structs.asdict(data))
        row.status = data.status.value
        ctx.session.add(row)
        await ctx.session.flush()
        await ctx.audit("task.create", "task", row.id, after=state_of(row, _TaskState))
        return 201, _out(row, None), {"ETag": etag_for(row.version), "Location": f"/v1/tasks/{row.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/tasks/{task_id:uuid}", opt={"action": "tasks.read"}, summary="Get a task with its logged hours")
async def get_task(ctx: Ctx, task_id: uuid.UUID) -> Response[TaskOut]:
    row = await load_task(ctx, task_id)
    if not_modified(ctx.request, row.version):
        return Response(b"", status_code=304, headers={"ETag": etag_for(row.version)})  # type: ignore[return-value]
    logged = await _logged(ctx, [row.id])
    return json_response(200, _out(row, logged.get(row.id)), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@patch(
    "/tasks/{task_id:uuid}",
    opt={"action": "tasks.write"},
    before_request=gate("tasks", "task_id", "task"),
    dto=Body[TaskPatch],
    return_dto=None,
    summary="Update a task (If-Match supported)",
)
async def update_task(ctx: Ctx, task_id: uuid.UUID, data: TaskPatch) -> Response[TaskOut]:
    row = await load_task(ctx, task_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    check_if_match(ctx.request, row.version)
    await _check_refs(ctx, row.project_id, data.phase_id, data.assignee_id)
    before = state_of(row, _TaskState)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    for name, value in changes.items():
        setattr(row, name, value.value if isinstance(value, StrEnum) else value)
    if changes:
        await ctx.session.flush()
    after = state_of(row, _TaskState)
    await ctx.audit("task.update", "task", row.id, before=before, after=after, detail={"fields": sorted(changes)})
    logged = await _logged(ctx, [row.id])
    return json_response(200, _out(row, logged.get(row.id)), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@delete("/tasks/{task_id:uuid}", opt={"action": "tasks.write"}, summary="Delete a task", status_code=204)
async def delete_task(ctx: Ctx, task_id: uuid.UUID) -> Response[None]:
    row = await load_task(ctx, task_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    return await delete_row(ctx, row, _TaskState, "task")  # type: ignore[return-value]


ROUTES = [list_tasks, create_task, get_task, update_task, delete_task]
