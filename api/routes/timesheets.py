"""Weekly timesheets: a person submits a week (Monday to Sunday); the project's PM approves or rejects it.

* ``POST /timesheets/submit`` — submit a week (your own; a manager may submit for others): every entry of
  the week becomes ``submitted`` and can no longer be edited. An empty week can be submitted (leave).
* ``POST /timesheets/{id}/approve`` — the approver must manage every project with time in the week
  (owners, admins and delivery leads manage all); a pm or lead cannot approve their own week. Entries
  become ``approved``: that is the time billing invoices.
* ``POST /timesheets/{id}/reject`` — with a reason; entries go back to ``draft`` for correction.
* ``POST /timesheets/{id}/reopen`` — an approved week back to ``open`` (its entries to ``draft``), unless
  part of it is in a billing period locked by an approved invoice (409).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from litestar import Response, get, post
from litestar.params import FromQuery
from sqlalchemy import exists, func, select, text, update

from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for
from api.idempotency import json_response
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, Forbidden, not_found
from api.project_scope import gate, managed, me, optional_body, require_me
from api.resources import get_row
from core.permissions import Role
from insights.money import hours_of, round_hours
from persistence.models import Person, Project, TimeEntry, Timesheet
from persistence.time_store import LOCKED_DAYS_CTE


class SheetStatus(StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class SubmitRequest(msgspec.Struct, forbid_unknown_fields=True):
    week_start: Annotated[date, msgspec.Meta(description="the Monday of the week")]
    person_id: uuid.UUID | None = None

    def problems(self) -> list[FieldError]:
        if self.week_start.weekday() != 0:
            return [FieldError(pointer="/week_start", detail=f"{self.week_start} is not a Monday")]
        return []


class Note(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ProjectHours(msgspec.Struct):
    project_id: uuid.UUID
    project_code: str
    hours: Decimal
    billable_hours: Decimal


class TimesheetOut(msgspec.Struct):
    id: uuid.UUID
    person_id: uuid.UUID
    week_start: date
    week_end: date
    status: str
    hours: Decimal
    billable_hours: Decimal
    entries: int
    projects: list[ProjectHours]
    submitted_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    note: str | None
    version: int


async def _projects(ctx: Ctx, sheet: Timesheet) -> list[ProjectHours]:
    rows = await ctx.session.execute(
        select(
            Project.id,
            Project.code,
            func.sum(TimeEntry.minutes),
            func.coalesce(func.sum(TimeEntry.minutes).filter(TimeEntry.billable), 0),
        )
        .join(Project, Project.id == TimeEntry.project_id)
        .where(
            TimeEntry.person_id == sheet.person_id,
            TimeEntry.work_date >= sheet.week_start,
            TimeEntry.work_date <= sheet.week_start + timedelta(days=6),
        )
        .group_by(Project.id, Project.code)
        .order_by(Project.code)
    )
    return [
        ProjectHours(pid, code, round_hours(hours_of(minutes)), round_hours(hours_of(billable)))
        for pid, code, minutes, billable in rows.all()
    ]


async def _out(ctx: Ctx, sheet: Timesheet) -> TimesheetOut:
    projects = await _projects(ctx, sheet)
    count = (
        await ctx.session.execute(
            select(func.count()).where(
                TimeEntry.person_id == sheet.person_id,
                TimeEntry.work_date >= sheet.week_start,
                TimeEntry.work_date <= sheet.week_start + timedelta(days=6),
            )
        )
    ).scalar_one()
    return TimesheetOut(
        id=sheet.id,
        person_id=sheet.person_id,
        week_start=sheet.week_start,
        week_end=sheet.week_start + timedelta(days=6),
        status=sheet.status,
        hours=sum((p.hours for p in projects), Decimal(0)),
        billable_hours=sum((p.billable_hours for p in projects), Decimal(0)),
        entries=count,
        projects=projects,
        submitted_at=sheet.submitted_at,
        decided_at=sheet.decided_at,
        decided_by=sheet.decided_by,
        note=sheet.note,
        version=sheet.version,
    )


def _week_entries(sheet: Timesheet) -> object:
    return (
        (TimeEntry.person_id == sheet.person_id)
        & (TimeEntry.work_date >= sheet.week_start)
        & (TimeEntry.work_date <= sheet.week_start + timedelta(days=6))
    )


async def _set_entries(ctx: Ctx, sheet: Timesheet, status: str) -> None:
    """Move every entry of the week to ``status`` (bumping versions, so their ETags change)."""
    stmt = update(TimeEntry).where(_week_entries(sheet)).values(status=status, version=TimeEntry.version + 1)  # type: ignore[arg-type]
    await ctx.session.execute(stmt)


async def _may_see(ctx: Ctx, sheet: Timesheet) -> bool:
    person = await me(ctx)
    if person is not None and person.id == sheet.person_id:
        return True
    if not ctx.principal.can("time.read_all"):
        return False
    scope = await managed(ctx)
    if scope is None:
        return True
    touched = {p.project_id for p in await _projects(ctx, sheet)}
    return bool(touched & scope)


async def load_sheet(ctx: Ctx, sheet_id: uuid.UUID) -> Timesheet:
    row: Timesheet = await get_row(ctx, Timesheet, sheet_id, "timesheet", for_update=True)
    if not await _may_see(ctx, row):
        raise not_found("timesheet", sheet_id)
    return row


async def _require_approver(ctx: Ctx, sheet: Timesheet) -> None:
    person = await me(ctx)
    if person is not None and person.id == sheet.person_id and ctx.principal.role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden("you cannot approve or reject your own timesheet")
    scope = await managed(ctx)
    if scope is None:
        return
    missing = [p.project_code for p in await _projects(ctx, sheet) if p.project_id not in scope]
    if missing:
        raise Forbidden(f"the week has time on projects you do not manage: {', '.join(missing)}")


async def _decide(ctx: Ctx, sheet: Timesheet, action: str, before: TimesheetOut) -> Response[bytes]:
    await ctx.session.flush()
    out = await _out(ctx, sheet)
    await ctx.audit(
        f"timesheet.{action}",
        "timesheet",
        sheet.id,
        before=msgspec.to_builtins(before),
        after=msgspec.to_builtins(out),
    )
    return json_response(200, out, {"ETag": etag_for(sheet.version)})


@get("/timesheets", opt={"action": "time.read_own"}, summary="List timesheets you may see")
async def list_sheets(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    person_id: FromQuery[uuid.UUID | None] = None,
    week_start: FromQuery[date | None] = None,
    status: FromQuery[SheetStatus | None] = None,
) -> Page[TimesheetOut]:
    query = select(Timesheet)
    person = await me(ctx)
    if ctx.principal.can("time.read_all"):
        scope = await managed(ctx)
        if scope is not None:
            on_my_projects = exists().where(
                TimeEntry.person_id == Timesheet.person_id,
                TimeEntry.work_date >= Timesheet.week_start,
                TimeEntry.work_date <= Timesheet.week_start + text("6"),
                TimeEntry.project_id.in_(scope),
            )
            query = query.where(on_my_projects | (Timesheet.person_id == person.id) if person else on_my_projects)
    else:
        person = await require_me(ctx)
        query = query.where(Timesheet.person_id == person.id)
    if person_id is not None:
        query = query.where(Timesheet.person_id == person_id)
    if week_start is not None:
        query = query.where(Timesheet.week_start == week_start)
    if status is not None:
        query = query.where(Timesheet.status == status.value)
    rows = (await ctx.session.execute(paginate(query, Timesheet.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[await _out(ctx, s) for s in items], next_cursor=next_cursor)


@get("/timesheets/{timesheet_id:uuid}", opt={"action": "time.read_own"}, summary="Get a timesheet")
async def get_sheet(ctx: Ctx, timesheet_id: uuid.UUID) -> Response[TimesheetOut]:
    sheet = await load_sheet(ctx, timesheet_id)
    return json_response(200, await _out(ctx, sheet), {"ETag": etag_for(sheet.version)})  # type: ignore[return-value]


@post(
    "/timesheets/submit",
    opt={"action": "timesheets.submit"},
    dto=Body[SubmitRequest],
    return_dto=None,
    summary="Submit a week for approval (creates the timesheet if needed)",
    status_code=200,
)
async def submit_sheet(ctx: Ctx, data: SubmitRequest) -> Response[TimesheetOut]:
    person = await require_me(ctx) if data.person_id is None else await get_row(ctx, Person, data.person_id, "person")
    mine = await me(ctx)
    if mine is None or mine.id != person.id:
        if not ctx.principal.can("time.write_all"):
            raise Forbidden("you may only submit your own timesheet")
        scope = await managed(ctx)
        if scope is not None:
            draft = Timesheet(person_id=person.id, week_start=data.week_start)
            missing = [p.project_code for p in await _projects(ctx, draft) if p.project_id not in scope]
            if missing:
                raise Forbidden(f"the week has time on projects you do not manage: {', '.join(missing)}")
    sheet = (
        await ctx.session.execute(
            select(Timesheet)
            .where(Timesheet.person_id == person.id, Timesheet.week_start == data.week_start)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if sheet is None:
        sheet = Timesheet(org_id=ctx.org_id, person_id=person.id, week_start=data.week_start, status="open")
        ctx.session.add(sheet)
        await ctx.session.flush()
    if sheet.status not in ("open", "rejected"):
        raise Conflict(f"the timesheet of the week of {data.week_start} is already {sheet.status}")
    before = await _out(ctx, sheet)
    sheet.status, sheet.submitted_at = "submitted", datetime.now(UTC)
    sheet.decided_at = sheet.decided_by = None
    await _set_entries(ctx, sheet, "submitted")
    return await _decide(ctx, sheet, "submit", before)  # type: ignore[return-value]


@post(
    "/timesheets/{timesheet_id:uuid}/approve",
    opt={"action": "timesheets.approve"},
    summary="Approve a submitted week (optional body {note})",
    status_code=200,
)
async def approve_sheet(ctx: Ctx, timesheet_id: uuid.UUID) -> Response[TimesheetOut]:
    sheet = await load_sheet(ctx, timesheet_id)
    body = optional_body(await ctx.request.body(), Note)
    check_if_match(ctx.request, sheet.version)
    await _require_approver(ctx, sheet)
    if sheet.status != "submitted":
        raise Conflict(f"the timesheet is {sheet.status}; only a submitted one can be approved")
    before = await _out(ctx, sheet)
    sheet.status, sheet.decided_at, sheet.decided_by, sheet.note = (
        "approved",
        datetime.now(UTC),
        ctx.principal.actor.id,
        body.note,
    )
    await _set_entries(ctx, sheet, "approved")
    return await _decide(ctx, sheet, "approve", before)  # type: ignore[return-value]


@post(
    "/timesheets/{timesheet_id:uuid}/reject",
    opt={"action": "timesheets.approve"},
    before_request=gate("timesheets", "timesheet_id", "timesheet"),
    dto=Body[Rejection],
    return_dto=None,
    summary="Reject a submitted week with the reason; its entries become editable again",
    status_code=200,
)
async def reject_sheet(ctx: Ctx, timesheet_id: uuid.UUID, data: Rejection) -> Response[TimesheetOut]:
    sheet = await load_sheet(ctx, timesheet_id)
    check_if_match(ctx.request, sheet.version)
    await _require_approver(ctx, sheet)
    if sheet.status != "submitted":
        raise Conflict(f"the timesheet is {sheet.status}; only a submitted one can be rejected")
    before = await _out(ctx, sheet)
    sheet.status, sheet.decided_at, sheet.decided_by, sheet.note = (
        "rejected",
        datetime.now(UTC),
        ctx.principal.actor.id,
        data.reason,
    )
    await _set_entries(ctx, sheet, "draft")
    return await _decide(ctx, sheet, "reject", before)  # type: ignore[return-value]


_LOCKED_IN_WEEK = text(
    "WITH "
    + LOCKED_DAYS_CTE
    + """
    SELECT count(*) FROM time_entries e JOIN projects p ON p.id = e.project_id
    JOIN locked_days ld ON ld.client_id = p.client_id AND e.work_date >= ld.first_day AND e.work_date < ld.end_day
    WHERE e.person_id = :person_id AND e.work_date >= :start AND e.work_date <= :end
    """
)


@post(
    "/timesheets/{timesheet_id:uuid}/reopen",
    opt={"action": "timesheets.approve"},
    summary="Reopen an approved week for correction (409 if part of it is already invoiced)",
    status_code=200,
)
async def reopen_sheet(ctx: Ctx, timesheet_id: uuid.UUID) -> Response[TimesheetOut]:
    sheet = await load_sheet(ctx, timesheet_id)
    body = optional_body(await ctx.request.body(), Note)
    check_if_match(ctx.request, sheet.version)
    await _require_approver(ctx, sheet)
    if sheet.status != "approved":
        raise Conflict(f"the timesheet is {sheet.status}; only an approved one can be reopened")
    locked = (
        await ctx.session.execute(
            _LOCKED_IN_WEEK,
            {"person_id": sheet.person_id, "start": sheet.week_start, "end": sheet.week_start + timedelta(days=6)},
        )
    ).scalar_one()
    if locked:
        raise Conflict(f"{locked} entries of this week are in a billing period locked by an approved invoice")
    before = await _out(ctx, sheet)
    sheet.status, sheet.decided_at, sheet.decided_by, sheet.note = (
        "open",
        datetime.now(UTC),
        ctx.principal.actor.id,
        body.note,
    )
    await _set_entries(ctx, sheet, "draft")
    return await _decide(ctx, sheet, "reopen", before)  # type: ignore[return-value]


ROUTES = [list_sheets, submit_sheet, get_sheet, approve_sheet, reject_sheet, reopen_sheet]
