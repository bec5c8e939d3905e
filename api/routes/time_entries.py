"""Time entries: log, correct and delete time; import Harvest, Toggl Track and Clockify exports.

Rules, in the order they are checked on every write:

* the project is visible to the caller (404 otherwise, also for another organisation's ids);
* staff write their own entries; a pm writes anyone's entries on the projects it manages; owners, admins
  and delivery leads write anyone's (403 otherwise). Reading follows the same lines; finance reads all;
  an entry the caller may not read is not found (404);
* an entry dated in a billing period locked by an approved invoice cannot be created, changed or deleted
  (409), nor moved into such a period;
* an entry of a week whose timesheet is submitted or approved cannot be created, changed or deleted until
  the timesheet is rejected or reopened (409);
* one person logs at most 24 h per date (422).

Rates are snapshotted on write: the person's current cost rate and the rate card's bill rate.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery
from sqlalchemy import func, select

from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for, not_modified
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, Forbidden, ValidationFailed, not_found
from api.project_scope import gate, load_project, managed, manages, me, require_me
from api.resources import get_row, state_of
from core import decimal_bounds
from insights.money import hours_of, round_hours
from insights.timeimport import parse
from persistence.models import Client, Person, Phase, Project, Task, TimeEntry
from persistence.time_import import apply_import, plan_import
from persistence.time_store import date_locked, resolve_bill_rate, timesheet_status

MAX_MINUTES = Decimal(1440)
Notes = Annotated[str, msgspec.Meta(max_length=5000)]
RoleName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


def _duration_problems(minutes: object, hours: object, *, required: bool) -> list[FieldError]:
    given = [name for name, v in (("minutes", minutes), ("hours", hours)) if v not in (None, msgspec.UNSET)]
    if len(given) > 1:
        return [FieldError(pointer="/hours", detail="give minutes or hours, not both")]
    if not given:
        return [FieldError(pointer="/minutes", detail="give minutes or hours")] if required else []
    value = minutes if given[0] == "minutes" else hours
    assert isinstance(value, Decimal)
    if decimal_bounds.problem(value, "decimal") is not None:
        return []  # NaN, infinities, 1e400: already named by the number-bounds check every body passes
    total = value if given[0] == "minutes" else value * 60
    pointer = "/" + given[0]
    if not total.is_finite() or total <= 0 or total > MAX_MINUTES:
        return [FieldError(pointer=pointer, detail="must be more than 0 and at most 24 hours")]
    if total != total.quantize(Decimal("0.01")):
        return [FieldError(pointer=pointer, detail="must be a whole number of hundredths of a minute")]
    return []


def _minutes(minutes: Decimal | msgspec.UnsetType | None, hours: Decimal | msgspec.UnsetType | None) -> Decimal | None:
    if isinstance(minutes, Decimal):
        return minutes
    if isinstance(hours, Decimal):
        return (hours * 60).quantize(Decimal("0.01"))
    return None


class EntryCreate(msgspec.Struct, forbid_unknown_fields=True):
    project_id: uuid.UUID
    work_date: Annotated[date, msgspec.Meta(description="the local date the work was done")]
    minutes: Decimal | None = None
    hours: Decimal | None = None
    person_id: uuid.UUID | None = None
    phase_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    role: RoleName | None = None
    billable: bool = True
    notes: Notes | None = None
    started_at: datetime | None = None

    def problems(self) -> list[FieldError]:
        return _duration_problems(self.minutes, self.hours, required=True)


class EntryPatch(msgspec.Struct, forbid_unknown_fields=True):
    project_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    work_date: date | msgspec.UnsetType = msgspec.UNSET
    minutes: Decimal | msgspec.UnsetType = msgspec.UNSET
    hours: Decimal | msgspec.UnsetType = msgspec.UNSET
    phase_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    task_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    role: RoleName | msgspec.UnsetType = msgspec.UNSET
    billable: bool | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType | None = msgspec.UNSET
    started_at: datetime | msgspec.UnsetType | None = msgspec.UNSET

    def problems(self) -> list[FieldError]:
        return _duration_problems(self.minutes, self.hours, required=False)


class EntryOut(msgspec.Struct):
    id: uuid.UUID
    person_id: uuid.UUID
    project_id: uuid.UUID
    phase_id: uuid.UUID | None
    task_id: uuid.UUID | None
    role: str
    work_date: date
    minutes: Decimal
    hours: Decimal
    billable: bool
    notes: str | None
    started_at: datetime | None
    status: str
    source: str
    import_id: uuid.UUID | None
    cost_rate: Decimal | None
    cost_currency: str | None
    bill_rate: Decimal | None
    bill_currency: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class _EntryState(msgspec.Struct):
    id: uuid.UUID
    person_id: uuid.UUID
    project_id: uuid.UUID
    phase_id: uuid.UUID | None
    task_id: uuid.UUID | None
    role: str
    work_date: date
    minutes: Decimal
    billable: bool
    notes: str | None
    status: str
    cost_rate: Decimal
    bill_rate: Decimal | None
    version: int


def _out(ctx: Ctx, row: TimeEntry) -> EntryOut:
    """Rates are shown only to roles that read budgets; staff see their hours, not what they cost."""
    show_rates = ctx.principal.can("budget.read")
    return EntryOut(
        id=row.id,
        person_id=row.person_id,
        project_id=row.project_id,
        phase_id=row.phase_id,
        task_id=row.task_id,
        role=row.role,
        work_date=row.work_date,
        minutes=row.minutes,
        hours=round_hours(hours_of(row.minutes)),
        billable=row.billable,
        notes=row.notes,
        started_at=row.started_at,
        status=row.status,
        source=row.source,
        import_id=row.import_id,
        cost_rate=row.cost_rate if show_rates else None,
        cost_currency=row.cost_currency if show_rates else None,
        bill_rate=row.bill_rate if show_rates else None,
        bill_currency=row.bill_currency if show_rates else None,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def may_read(ctx: Ctx, person_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    person = await me(ctx)
    if person is not None and person.id == person_id:
        return True
    return ctx.principal.can("time.read_all") and await manages(ctx, project_id)


async def require_write(ctx: Ctx, person_id: uuid.UUID, project: Project) -> None:
    person = await me(ctx)
    if person is not None and person.id == person_id:
        return
    if ctx.principal.can("time.write_all") and await manages(ctx, project.id):
        return
    if ctx.principal.can("time.write_all"):
        raise Forbidden(f"you do not manage project {project.code}")
    raise Forbidden("you may only write your own time")


async def _client(ctx: Ctx, project: Project) -> Client:
    return (await ctx.session.execute(select(Client).where(Client.id == project.client_id))).scalar_one()


async def check_open(ctx: Ctx, project: Project, person_id: uuid.UUID, day: date, verb: str) -> None:
    client = await _client(ctx, project)
    if await date_locked(ctx.session, client.id, client.timezone, day):
        raise Conflict(f"{day} is in a billing period locked by an approved invoice; time there cannot be {verb}")
    status = await timesheet_status(ctx.session, person_id, day)
    if status in ("submitted", "approved"):
        raise Conflict(f"the timesheet of the week of {day} is {status}; it must be rejected or reopened first")


async def _check_refs(ctx: Ctx, project_id: uuid.UUID, phase_id: object, task_id: object) -> uuid.UUID | None:
    """Validate phase and task against the project; returns the task's phase if it has one."""
    errors = []
    task_phase = None
    if isinstance(phase_id, uuid.UUID):
        owner = (await ctx.session.execute(select(Phase.project_id).where(Phase.id == phase_id))).scalar()
        if owner != project_id:
            errors.append(FieldError(pointer="/phase_id", detail="no such phase in this project"))
    if isinstance(task_id, uuid.UUID):
        task = (await ctx.session.execute(select(Task).where(Task.id == task_id))).scalar_one_or_none()
        if task is None or task.project_id != project_id:
            errors.append(FieldError(pointer="/task_id", detail="no such task in this project"))
        else:
            task_phase = task.phase_id
    if errors:
        raise ValidationFailed("the entry refers to records outside its project", errors=errors)
    return task_phase


async def _check_day_total(
    ctx: Ctx, person_id: uuid.UUID, day: date, minutes: Decimal, exclude: uuid.UUID | None
) -> None:
    query = select(func.coalesce(func.sum(TimeEntry.minutes), 0)).where(
        TimeEntry.person_id == person_id, TimeEntry.work_date == day
    )
    if exclude is not None:
        query = query.where(TimeEntry.id != exclude)
    logged = (await ctx.session.execute(query)).scalar_one()
    if logged + minutes > MAX_MINUTES:
        raise ValidationFailed(
            "more than 24 hours on one day",
            errors=[FieldError(pointer="/minutes", detail=f"{hours_of(logged):.2f} h are already logged on {day}")],
        )


async def _bill_rate(ctx: Ctx, project: Project, role: str, day: date) -> tuple[Decimal | None, str | None]:
    found = await resolve_bill_rate(
        ctx.session, client_id=project.client_id, project_id=project.id, role=role, work_date=day
    )
    return (found[0], found[1]) if found else (None, None)


async def load_entry(ctx: Ctx, entry_id: uuid.UUID, *, for_update: bool = False) -> TimeEntry:
    row: TimeEntry = await get_row(ctx, TimeEntry, entry_id, "time entry", for_update=for_update)
    await load_project(ctx, row.project_id)
    if not await may_read(ctx, row.person_id, row.project_id):
        raise not_found("time entry", entry_id)
    return row


@get("/time-entries", opt={"action": "time.read_own"}, summary="List time entries you may see")
async def list_entries(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    person_id: FromQuery[uuid.UUID | None] = None,
    project_id: FromQuery[uuid.UUID | None] = None,
    date_from: FromQuery[date | None] = None,
    date_to: FromQuery[date | None] = None,
    status: FromQuery[str | None] = None,
    billable: FromQuery[bool | None] = None,
) -> Page[EntryOut]:
    query = select(TimeEntry)
    person = await me(ctx)
    if ctx.principal.can("time.read_all"):
        scope = await managed(ctx)
        if scope is not None:
            visible = TimeEntry.project_id.in_(scope)
            if person is not None:
                visible = visible | (TimeEntry.person_id == person.id)
            query = query.where(visible)
    else:
        person = await require_me(ctx)
        query = query.where(TimeEntry.person_id == person.id)
    for column, value in (
        (TimeEntry.person_id, person_id),
        (TimeEntry.project_id, project_id),
        (TimeEntry.status, status),
        (TimeEntry.billable, billable),
    ):
        if value is not None:
            query = query.where(column == value)
    if date_from is not None:
        query = query.where(TimeEntry.work_date >= date_from)
    if date_to is not None:
        query = query.where(TimeEntry.work_date <= date_to)
    rows = (await ctx.session.execute(paginate(query, TimeEntry.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[_out(ctx, r) for r in items], next_cursor=next_cursor)


@post(
    "/time-entries",
    opt={"action": "time.write_own"},
    dto=Body[EntryCreate],
    return_dto=None,
    summary="Log time (your own; a pm for its projects' people)",
    status_code=201,
)
async def create_entry(ctx: Ctx, data: EntryCreate) -> Response[EntryOut]:
    project = await load_project(ctx, data.project_id)
    if data.person_id is None:
        person = await require_me(ctx)
    else:
        person = await get_row(ctx, Person, data.person_id, "person")
    await require_write(ctx, person.id, project)
    task_phase = await _check_refs(ctx, project.id, data.phase_id, data.task_id)
    await check_open(ctx, project, person.id, data.work_date, "logged")
    minutes = _minutes(data.minutes, data.hours)
    assert minutes is not None
    await _check_day_total(ctx, person.id, data.work_date, minutes, None)
    role = data.role or person.role
    bill_rate, bill_currency = await _bill_rate(ctx, project, role, data.work_date)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = TimeEntry(
            org_id=ctx.org_id,
            person_id=person.id,
            project_id=project.id,
            phase_id=data.phase_id or task_phase,
            task_id=data.task_id,
            role=role,
            work_date=data.work_date,
            minutes=minutes,
            billable=data.billable,
            notes=data.notes,
            started_at=data.started_at,
            status="draft",
            cost_rate=person.cost_rate,
            cost_currency=person.cost_currency,
            bill_rate=bill_rate,
            bill_currency=bill_currency,
            source="api",
        )
        ctx.session.add(row)
        await ctx.session.flush()
        await ctx.audit("time_entry.create", "time_entry", row.id, after=state_of(row, _EntryState))
        return 201, _out(ctx, row), {"ETag": etag_for(row.version), "Location": f"/v1/time-entries/{row.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/time-entries/{entry_id:uuid}", opt={"action": "time.read_own"}, summary="Get a time entry")
async def get_entry(ctx: Ctx, entry_id: uuid.UUID) -> Response[EntryOut]:
    row = await load_entry(ctx, entry_id)
    if not_modified(ctx.request, row.version):
        return Response(b"", status_code=304, headers={"ETag": etag_for(row.version)})  # type: ignore[return-value]
    return json_response(200, _out(ctx, row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@patch(
    "/time-entries/{entry_id:uuid}",
    opt={"action": "time.write_own"},
    before_request=gate("time_entries", "entry_id", "time entry"),
    dto=Body[EntryPatch],
    return_dto=None,
    summary="Correct a draft time entry (If-Match supported)",
)
async def update_entry(ctx: Ctx, entry_id: uuid.UUID, data: EntryPatch) -> Response[EntryOut]:
    row = await load_entry(ctx, entry_id, for_update=True)
    project = await load_project(ctx, row.project_id)
    await require_write(ctx, row.person_id, project)
    check_if_match(ctx.request, row.version)
    await check_open(ctx, project, row.person_id, row.work_date, "changed")
    if row.status != "draft":
        raise Conflict(f"the entry is {row.status}; reject or reopen its timesheet first")
    target = project
    if isinstance(data.project_id, uuid.UUID) and data.project_id != row.project_id:
        target = await load_project(ctx, data.project_id)
        await require_write(ctx, row.person_id, target)
    phase_id = row.phase_id if data.phase_id is msgspec.UNSET else data.phase_id
    task_id = row.task_id if data.task_id is msgspec.UNSET else data.task_id
    if target.id != row.project_id and data.phase_id is msgspec.UNSET:
        phase_id = None
    if target.id != row.project_id and data.task_id is msgspec.UNSET:
        task_id = None
    task_phase = await _check_refs(ctx, target.id, phase_id, task_id)
    day = row.work_date if data.work_date is msgspec.UNSET else data.work_date
    if day != row.work_date or target.id != project.id:
        await check_open(ctx, target, row.person_id, day, "logged")
    minutes = _minutes(data.minutes, data.hours) or row.minutes
    await _check_day_total(ctx, row.person_id, day, minutes, row.id)
    role = row.role if data.role is msgspec.UNSET else data.role
    before = state_of(row, _EntryState)
    repriced = (target.id, role, day) != (row.project_id, row.role, row.work_date)
    row.project_id, row.work_date, row.minutes, row.role = target.id, day, minutes, role
    row.phase_id = phase_id if phase_id is not None or task_id is None else task_phase
    row.task_id = task_id
    if data.billable is not msgspec.UNSET:
        row.billable = data.billable
    if data.notes is not msgspec.UNSET:
        row.notes = data.notes
    if data.started_at is not msgspec.UNSET:
        row.started_at = data.started_at
    if repriced:
        row.bill_rate, row.bill_currency = await _bill_rate(ctx, target, role, day)
    await ctx.session.flush()
    changed = sorted(k for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET)
    await ctx.audit(
        "time_entry.update",
        "time_entry",
        row.id,
        before=before,
        after=state_of(row, _EntryState),
        detail={"fields": changed},
    )
    return json_response(200, _out(ctx, row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@delete(
    "/time-entries/{entry_id:uuid}",
    opt={"action": "time.write_own"},
    summary="Delete a draft time entry",
    status_code=204,
)
async def delete_entry(ctx: Ctx, entry_id: uuid.UUID) -> Response[None]:
    row = await load_entry(ctx, entry_id, for_update=True)
    project = await load_project(ctx, row.project_id)
    await require_write(ctx, row.person_id, project)
    check_if_match(ctx.request, row.version)
    await check_open(ctx, project, row.person_id, row.work_date, "deleted")
    if row.status != "draft":
        raise Conflict(f"the entry is {row.status}; reject or reopen its timesheet first")
    before = state_of(row, _EntryState)
    await ctx.session.delete(row)
    await ctx.session.flush()
    await ctx.audit("time_entry.delete", "time_entry", entry_id, before=before)
    return Response(b"", status_code=204)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------- imports


class Source(StrEnum):
    HARVEST = "harvest"
    TOGGL = "toggl"
    CLOCKIFY = "clockify"


class DateOrder(StrEnum):
    MDY = "mdy"
    DMY = "dmy"
    YMD = "ymd"


class ImportRequest(msgspec.Struct, forbid_unknown_fields=True):
    source: Source
    csv: Annotated[str, msgspec.Meta(min_length=1, description="the export file's text (UTF-8)")]
    filename: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    dry_run: bool = False
    date_order: DateOrder = DateOrder.MDY
    skip_duplicates: bool = False
    people: dict[str, uuid.UUID] = msgspec.field(default_factory=dict)
    projects: dict[str, uuid.UUID] = msgspec.field(default_factory=dict)


class ImportRowOut(msgspec.Struct):
    line: int
    status: str
    problems: list[str]
    person_id: uuid.UUID | None
    project_id: uuid.UUID | None
    task_id: uuid.UUID | None
    work_date: date | None
    minutes: Decimal | None
    billable: bool


class ImportResult(msgspec.Struct):
    source: str
    dry_run: bool
    rows: int
    importable: int
    duplicates: int
    problems: int
    file_problems: list[str]
    report: list[ImportRowOut]
    import_id: uuid.UUID | None = None
    created: int = 0


@post(
    "/time-entries/imports",
    opt={"action": "time.import"},
    dto=Body[ImportRequest],
    return_dto=None,
    summary="Import a Harvest, Toggl Track or Clockify export: dry-run lists each row's problem; all or nothing",
    status_code=201,
    responses={200: ResponseSpec(ImportResult, description="Dry run: what would be imported; nothing was")},
)
async def import_entries(ctx: Ctx, data: ImportRequest) -> Response[ImportResult]:
    parsed = parse(data.source.value, data.csv, date_order=data.date_order.value)
    plan = await plan_import(
        ctx.session,
        parsed,
        people_map=data.people,
        projects_map=data.projects,
        managed=await managed(ctx),
        skip_duplicates=data.skip_duplicates,
    )
    report = [msgspec.convert(r, ImportRowOut, from_attributes=True) for r in plan.rows]
    result = ImportResult(
        source=plan.source,
        dry_run=data.dry_run,
        rows=len(plan.rows),
        importable=len(plan.importable),
        duplicates=sum(1 for r in plan.rows if r.status == "duplicate"),
        problems=plan.problem_count,
        file_problems=plan.file_problems,
        report=report,
    )
    if data.dry_run:
        await ctx.audit("time_import.dry_run", "time_import", detail={"rows": result.rows, "problems": result.problems})
        return json_response(200, result)  # type: ignore[return-value]
    if plan.problem_count:
        errors = [FieldError(pointer="/csv", detail=p) for p in plan.file_problems] + [
            FieldError(pointer="/csv", detail=f"line {r.line}: {p}") for r in plan.rows for p in r.problems
        ]
        raise ValidationFailed(
            f"{plan.problem_count} problem(s): nothing was imported; fix the file or dry-run it to see each row",
            errors=errors,
            extra={"report": msgspec.to_builtins(report)},
        )

    async def create() -> tuple[int, object, dict[str, str]]:
        import_id, created = await apply_import(
            ctx.session,
            plan,
            org_id=ctx.org_id,
            imported_by=ctx.principal.actor.id,
            filename=data.filename,
            sha256=hashlib.sha256(data.csv.encode()).hexdigest(),
        )
        done = msgspec.structs.replace(result, import_id=import_id, created=created)
        await ctx.audit(
            "time_import.create",
            "time_import",
            import_id,
            detail={"source": plan.source, "created": created, "duplicates_skipped": result.duplicates},
        )
        return 201, done, {}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


ROUTES = [list_entries, import_entries, create_entry, get_entry, update_entry, delete_entry]
