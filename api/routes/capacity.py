"""Capacity plans: staff the org's people onto project demand with CP-SAT (docs/capacity.md).

``POST /capacity/plans`` stores the request and starts a ``CapacityPlan`` workflow (id
``capacity/<org>/<plan>``) that builds the instance from the org's people and solves it with heartbeats;
``GET`` shows status, progress and, once solved, the plan (objective breakdown, gap, utilization, unmet
demand with reasons, pin conflicts) with the independent checker's report. Cancelling keeps the best plan
found so far. What-ifs (hire, delay, drop a tentative project) are new plans solved the same way from the
base plan, with a diff. Publishing copies a plan's hours to ``capacity_allocations`` (read by forecasts).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.params import FromQuery
from sqlalchemy import select
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError, RPCStatusCode

from api.context import Ctx
from api.dto import Body
from api.engagements import bounded
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, ProblemError, ValidationFailed, not_found
from api.resources import get_row
from persistence import capacity_store
from persistence.models import CapacityPlan
from persistence.models.capacity_plan import ACTIVE_STATUSES
from workflows import names
from workflows.capacity_inputs import CapacityPlanInput, PlanRequest, WhatIfRequest

MAX_DEMAND_LINES = 50_000


# ---- responses ------------------------------------------------------------------------------------------


class PlanSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    name: str
    status: str
    base_plan_id: uuid.UUID | None
    objective: float | None
    bound: float | None
    gap: float | None
    progress: dict[str, Any] | None
    start_date: date | None
    weeks: int | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    published_at: datetime | None


class PlanOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    name: str
    status: str
    """queued, solving, done, cancelled or failed."""
    base_plan_id: uuid.UUID | None
    scenario: dict[str, Any] | None
    request: dict[str, Any]
    progress: dict[str, Any] | None
    """The latest solver heartbeat: phase, elapsed_s, best_objective, bound, gap, solutions, attempt."""
    stage: str | None
    """While queued or solving: the workflow's own stage (preparing, solving), from a workflow query."""
    plan: dict[str, Any] | None
    """The solver's plan (docs/capacity.md): status, gap, breakdown, allocations, utilization, unmet, pin_conflicts."""
    check: dict[str, Any] | None
    """The independent plan checker's report (``ok`` and violations)."""
    diff: dict[str, Any] | None
    """What-ifs: the change against the base plan."""
    notes: list[str]
    error: str | None
    workflow_id: str
    attempts: int
    time_limit_s: float
    start_date: date | None
    weeks: int | None
    project_ids: list[uuid.UUID]
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    published_at: datetime | None
    published_by: str | None
    version: int


class PublicationOut(msgspec.Struct, kw_only=True):
    plan_id: uuid.UUID
    published_at: datetime
    allocations: int
    hours: Decimal
    replaced: int
    first_week: date
    last_week: date
    project_ids: list[uuid.UUID]
    already_published: bool


def _summary(row: CapacityPlan) -> PlanSummary:
    result = row.result or {}
    return PlanSummary(
        id=row.id,
        kind=row.kind,
        name=row.name,
        status=row.status,
        base_plan_id=row.base_plan_id,
        objective=result.get("objective"),
        bound=result.get("bound"),
        gap=result.get("gap"),
        progress=row.progress,
        start_date=row.start_date,
        weeks=row.weeks,
        attempts=row.attempts,
        created_at=row.created_at,
        finished_at=row.finished_at,
        published_at=row.published_at,
    )


def _out(row: CapacityPlan, stage: str | None = None) -> PlanOut:
    return PlanOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        status=row.status,
        base_plan_id=row.base_plan_id,
        scenario=row.scenario,
        request=row.request,
        progress=row.progress,
        stage=stage,
        plan=row.result,
        check=row.check_report,
        diff=row.diff,
        notes=list(row.notes),
        error=row.error,
        workflow_id=row.workflow_id,
        attempts=row.attempts,
        time_limit_s=row.time_limit_s,
        start_date=row.start_date,
        weeks=row.weeks,
        project_ids=list(row.project_ids),
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cancel_requested_at=row.cancel_requested_at,
        published_at=row.published_at,
        published_by=row.published_by,
        version=row.version,
    )


# ---- request validation ---------------------------------------------------------------------------------


def _multiple_of(value: Decimal, block: Decimal) -> bool:
    return block > 0 and (value / block) == (value / block).to_integral_value()


def _explicit_instance_problems(data: dict[str, Any]) -> list[FieldError]:
    # Imported here: only explicit-instance requests need the solver's schema and validation.
    from scheduling import Instance, validate_instance

    try:
        instance = msgspec.convert(data, Instance, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        pointer = "/instance"
        if " - at `$" in message:
            message, _, path = message.partition(" - at `$")
            pointer += path.rstrip("`").replace(".", "/").replace("[", "/").replace("]", "")
        return [FieldError(pointer=pointer, detail=message)]
    return [FieldError(pointer="/instance", detail=e) for e in validate_instance(instance)]


def request_problems(req: PlanRequest) -> list[FieldError]:
    """Everything about a plan request that can be checked without the database, each by JSON pointer."""
    errors: list[FieldError] = []

    def bad(pointer: str, detail: str) -> None:
        errors.append(FieldError(pointer=pointer, detail=detail))

    if req.instance is not None:
        for field in ("start", "weeks", "currency", "people"):
            if getattr(req, field) is not None:
                bad(f"/{field}", "not allowed together with an explicit instance")
        for field in ("person_settings", "projects", "pins"):
            if getattr(req, field):
                bad(f"/{field}", "not allowed together with an explicit instance")
        return errors + _explicit_instance_problems(req.instance)

    if req.start is None:
        bad("/start", "required (the Monday of week 0) unless an explicit instance is given")
    elif req.start.weekday() != 0:
        bad("/start", f"{req.start} is not a Monday")
    if req.weeks is None:
        bad("/weeks", "required unless an explicit instance is given")
    weeks = req.weeks or 0
    rules, weights = req.rules, req.weights
    if not (rules.block_hours.is_finite() and Decimal("0.25") <= rules.block_hours <= 40):
        bad("/rules/block_hours", "must be between 0.25 and 40")
    if not (rules.min_hours.is_finite() and 0 <= rules.min_hours <= 80):
        bad("/rules/min_hours", "must be between 0 and 80")
    for name in ("revenue", "cost", "churn_per_change", "under_utilization_per_hour", "over_utilization_per_hour"):
        value: Decimal = getattr(weights, name)
        if not value.is_finite() or value < 0:
            bad(f"/weights/{name}", "must be a finite number >= 0")
    multipliers = weights.priority_multipliers or {
        1: Decimal(2),
        2: Decimal("1.5"),
        3: Decimal("1.2"),
        4: Decimal(1),
        5: Decimal("0.8"),
    }
    for priority, value in (weights.priority_multipliers or {}).items():
        if not value.is_finite() or value < 0:
            bad(f"/weights/priority_multipliers/{priority}", "must be a finite number >= 0")

    for i, s in enumerate(req.person_settings):
        for k, off in enumerate(s.time_off):
            if off.end < off.start:
                bad(f"/person_settings/{i}/time_off/{k}/end", "ends before it starts")
    seen: set[uuid.UUID] = set()
    lines = 0
    if not req.projects:
        bad("/projects", "give the demand of at least one project")
    for i, project in enumerate(req.projects):
        at = f"/projects/{i}"
        if project.project_id in seen:
            bad(f"{at}/project_id", "project listed twice")
        seen.add(project.project_id)
        if project.priority not in multipliers:
            bad(f"{at}/priority", "no multiplier for this priority in weights.priority_multipliers")
        if project.bill_rate is not None and (not project.bill_rate.is_finite() or project.bill_rate < 0):
            bad(f"{at}/bill_rate", "must be a finite number >= 0")
        if not (project.probability.is_finite() and 0 <= project.probability <= 1):
            bad(f"{at}/probability", "must be between 0 and 1")
        for k, line in enumerate(project.demand):
            here = f"{at}/demand/{k}"
            if line.week >= weeks and req.weeks is not None:
                bad(f"{here}/week", f"outside the horizon of {weeks} week(s)")
            if line.until_week is not None:
                if line.until_week < line.week:
                    bad(f"{here}/until_week", "before week")
                elif req.weeks is not None and line.until_week >= weeks:
                    bad(f"{here}/until_week", f"outside the horizon of {weeks} week(s)")
            lines += 1 + max(0, (line.until_week or line.week) - line.week)
            if not line.hours.is_finite() or line.hours <= 0 or line.hours > 168:
                bad(f"{here}/hours", "must be more than 0 and at most 168")
            elif not _multiple_of(line.hours, rules.block_hours):
                bad(f"{here}/hours", f"must be a multiple of the {rules.block_hours} h block")
            if (line.skill is None) == (line.person_id is None):
                bad(f"{here}", "give either a skill (placeholder) or a person_id (named), not both or neither")
    if lines > MAX_DEMAND_LINES:
        bad("/projects", f"{lines} demand lines; at most {MAX_DEMAND_LINES}")
    for i, pin in enumerate(req.pins):
        if pin.project_id not in seen:
            bad(f"/pins/{i}/project_id", "not one of the projects in this request")
        for k, week in enumerate(pin.weeks or []):
            if req.weeks is not None and week >= weeks:
                bad(f"/pins/{i}/weeks/{k}", f"outside the horizon of {weeks} week(s)")
    return errors


def _referenced_people(req: PlanRequest) -> list[tuple[str, uuid.UUID]]:
    found: list[tuple[str, uuid.UUID]] = []
    for i, person_id in enumerate(req.people or []):
        found.append((f"/people/{i}", person_id))
    for i, s in enumerate(req.person_settings):
        found.append((f"/person_settings/{i}/person_id", s.person_id))
    for i, project in enumerate(req.projects):
        for k, member in enumerate(project.existing_team or []):
            found.append((f"/projects/{i}/existing_team/{k}", member))
        for k, line in enumerate(project.demand):
            if line.person_id is not None:
                found.append((f"/projects/{i}/demand/{k}/person_id", line.person_id))
    for i, pin in enumerate(req.pins):
        found.append((f"/pins/{i}/person_id", pin.person_id))
    return found


async def _check_references(ctx: Ctx, req: PlanRequest) -> None:
    """Projects and people must be the org's (else 404, like any other id); named people must be active
    and in the plan."""
    projects = await capacity_store.projects_by_id(ctx.session, [p.project_id for p in req.projects])
    for project in req.projects:
        if project.project_id not in projects:
            raise not_found("project", project.project_id)
    referenced = _referenced_people(req)
    people = await capacity_store.people_by_id(ctx.session, [person_id for _, person_id in referenced])
    for _, person_id in referenced:
        if person_id not in people:
            raise not_found("person", person_id)
    only = set(req.people) if req.people is not None else None
    errors: list[FieldError] = []
    for pointer, person_id in referenced:
        person = people[person_id]
        if "/demand/" not in pointer and not pointer.startswith("/pins/"):
            continue
        if person.status != "active":
            errors.append(FieldError(pointer=pointer, detail=f"{person.name} is not active"))
        elif only is not None and person_id not in only:
            errors.append(FieldError(pointer=pointer, detail=f"{person.name} is not among the plan's people"))
    # People paid in another currency and projects without a rate card in the plan's currency are not
    # refused (issue 19): the instance builder plans them on stated assumptions, listed in the plan's notes.
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors=errors)


# ---- workflow plumbing ----------------------------------------------------------------------------------


async def _temporal(ctx: Ctx) -> TemporalClient:
    try:
        client: TemporalClient = await ctx.request.app.state.temporal_client()
    except Exception as exc:
        raise ProblemError(
            "Temporal is not reachable",
            status=503,
            slug="not-ready",
            title="Service not ready",
            headers={"Retry-After": "5"},
        ) from exc
    return client


async def _stage(ctx: Ctx, row: CapacityPlan) -> str | None:
    """The running workflow's stage; None if Temporal cannot say right now (the row still has progress)."""
    try:
        handle = (await _temporal(ctx)).get_workflow_handle(row.workflow_id)
        stage: str = await handle.query(names.QUERY_CAPACITY_STAGE, rpc_timeout=timedelta(seconds=2))
    except Exception:  # best effort: a status read must not fail on a slow query
        return None
    return stage


async def _start(ctx: Ctx, row: CapacityPlan) -> None:
    """Bounded like every call to Temporal (503 + Retry-After past ``update_wait_s``); the transaction stays
    open, so a plan whose workflow did not start is not created either."""
    client = await _temporal(ctx)

    async def start() -> None:
        await client.start_workflow(
            names.CAPACITY_PLAN_WORKFLOW,
            CapacityPlanInput(org_id=str(ctx.org_id), plan_id=str(row.id), time_limit_s=row.time_limit_s),
            id=row.workflow_id,
            task_queue=ctx.request.app.state.settings.task_queue,
        )

    await bounded(ctx, "the plan's start", start, release_transaction=False)


async def _create(ctx: Ctx, row: CapacityPlan) -> tuple[int, Any, dict[str, str]]:
    ctx.session.add(row)
    await ctx.session.flush()
    await ctx.session.refresh(row)
    await ctx.audit(
        f"capacity_plan.{'what_if' if row.kind == 'what_if' else 'create'}",
        "capacity_plan",
        row.id,
        after={"request": row.request, "kind": row.kind, "base_plan_id": str(row.base_plan_id or "")},
    )
    await _start(ctx, row)
    return 202, _out(row), {"Location": f"/v1/capacity/plans/{row.id}"}


def _new_plan(ctx: Ctx, **values: Any) -> CapacityPlan:
    plan_id = uuid.uuid4()
    return CapacityPlan(
        id=plan_id,
        org_id=ctx.org_id,
        status="queued",
        workflow_id=names.capacity_plan_id(str(ctx.org_id), str(plan_id)),
        created_by=ctx.principal.actor.id,
        notes=[],
        project_ids=[],
        **values,
    )


# ---- handlers -------------------------------------------------------------------------------------------


@post(
    "/capacity/plans",
    opt={"action": "capacity.plan"},
    dto=Body[PlanRequest],
    return_dto=None,
    status_code=202,
    summary="Plan capacity: build the instance from the org's people and this demand, solve it in the background",
)
async def create_plan(ctx: Ctx, data: PlanRequest) -> Response[PlanOut]:
    errors = request_problems(data)
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors=errors)
    if data.instance is None:
        await _check_references(ctx, data)

    async def create() -> tuple[int, Any, dict[str, str]]:
        row = _new_plan(
            ctx,
            kind="plan",
            name=data.name,
            request=msgspec.json.decode(msgspec.json.encode(data)),
            time_limit_s=data.solve.time_limit_s,
        )
        return await _create(ctx, row)

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/capacity/plans", opt={"action": "capacity.read"}, summary="List capacity plans (newest last)")
async def list_plans(
    ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, status: FromQuery[str | None] = None
) -> Page[PlanSummary]:
    query = select(CapacityPlan)
    if status:
        query = query.where(CapacityPlan.status == status)
    rows = (await ctx.session.execute(paginate(query, CapacityPlan.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda r: r.id)
    return Page(items=[_summary(r) for r in items], next_cursor=next_cursor)


@get("/capacity/plans/{plan_id:uuid}", opt={"action": "capacity.read"}, summary="Status, progress and the plan")
async def get_plan(ctx: Ctx, plan_id: uuid.UUID) -> Response[PlanOut]:
    row: CapacityPlan = await get_row(ctx, CapacityPlan, plan_id, "capacity plan")
    stage = await _stage(ctx, row) if row.status in ACTIVE_STATUSES else None
    await ctx.audit("capacity_plan.read", "capacity_plan", row.id, detail={"status": row.status})
    return json_response(200, _out(row, stage), {"ETag": f'"{row.version}"'})  # type: ignore[return-value]


@post(
    "/capacity/plans/{plan_id:uuid}/cancel",
    opt={"action": "capacity.plan"},
    status_code=202,
    summary="Cancel a running solve; the best plan found so far is kept (status cancelled)",
)
async def cancel_plan(ctx: Ctx, plan_id: uuid.UUID) -> Response[PlanOut]:
    row: CapacityPlan = await get_row(ctx, CapacityPlan, plan_id, "capacity plan", for_update=True)
    if row.status not in ACTIVE_STATUSES:
        raise Conflict(f"capacity plan {row.id} is {row.status}; only queued or solving plans can be cancelled")
    handle = (await _temporal(ctx)).get_workflow_handle(row.workflow_id)
    try:
        await bounded(ctx, "the cancellation", handle.cancel, release_transaction=False)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise Conflict(f"the workflow of capacity plan {row.id} is no longer running") from exc
    if row.cancel_requested_at is None:
        row.cancel_requested_at = datetime.now(UTC)
        await ctx.session.flush()
    await ctx.audit("capacity_plan.cancel", "capacity_plan", row.id, detail={"status": row.status})
    return json_response(202, _out(row))  # type: ignore[return-value]


def _what_if_problems(data: WhatIfRequest, base: CapacityPlan) -> list[FieldError]:
    errors: list[FieldError] = []
    projects = {p["id"]: p for p in (base.instance or {}).get("projects", [])}
    if data.kind == "hire":
        if data.person is None:
            errors.append(FieldError(pointer="/person", detail="required for a hire"))
        else:
            for name in ("cost_rate", "weekly_capacity_hours", "utilization_target"):
                value: Decimal = getattr(data.person, name)
                if not value.is_finite() or value < 0:
                    errors.append(FieldError(pointer=f"/person/{name}", detail="must be a finite number >= 0"))
            if data.person.weekly_capacity_hours > 168:
                errors.append(FieldError(pointer="/person/weekly_capacity_hours", detail="at most 168"))
            if data.person.utilization_target > Decimal("1.5"):
                errors.append(FieldError(pointer="/person/utilization_target", detail="at most 1.5"))
        return errors
    if data.project_id is None:
        return [FieldError(pointer="/project_id", detail=f"required for {data.kind}")]
    project = projects.get(str(data.project_id))
    if project is None:
        errors.append(FieldError(pointer="/project_id", detail="not a project of the base plan"))
    elif data.kind == "drop" and not project.get("tentative", False):
        errors.append(FieldError(pointer="/project_id", detail="confirmed; only tentative projects can be dropped"))
    if data.kind == "delay" and not data.weeks:
        errors.append(FieldError(pointer="/weeks", detail="required for a delay (non-zero, may be negative)"))
    return errors


@post(
    "/capacity/plans/{plan_id:uuid}/what-if",
    opt={"action": "capacity.plan"},
    dto=Body[WhatIfRequest],
    return_dto=None,
    status_code=202,
    summary="What-if: hire a person, delay a project or drop a tentative one; solved as a new plan with a diff",
)
async def what_if(ctx: Ctx, plan_id: uuid.UUID, data: WhatIfRequest) -> Response[PlanOut]:
    base: CapacityPlan = await get_row(ctx, CapacityPlan, plan_id, "capacity plan")
    if base.result is None or base.instance is None:
        raise Conflict(f"capacity plan {base.id} is {base.status} and has no plan to compare with yet")
    errors = _what_if_problems(data, base)
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors=errors)

    async def create() -> tuple[int, Any, dict[str, str]]:
        scenario = msgspec.json.decode(msgspec.json.encode(data))
        row = _new_plan(
            ctx,
            kind="what_if",
            base_plan_id=base.id,
            name=data.name or f"{base.name or 'plan'}: {data.kind}",
            request=scenario,
            scenario=scenario,
            time_limit_s=data.solve.time_limit_s if data.solve else base.time_limit_s,
        )
        return await _create(ctx, row)

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


def _allocation_rows(row: CapacityPlan) -> list[capacity_store.PublishedAllocation]:
    assert row.result is not None and row.start_date is not None
    lines: list[tuple[uuid.UUID, uuid.UUID, int, float]] = []
    strangers: set[str] = set()
    for a in row.result.get("allocations", []):
        try:
            person_id, project_id = uuid.UUID(a["person_id"]), uuid.UUID(a["project_id"])
        except ValueError:
            strangers.add(a["person_id"])
            continue
        lines.append((person_id, project_id, int(a["week"]), float(a["hours"])))
    if strangers:
        raise Conflict(
            "the plan staffs people who are not people of the org (e.g. a hypothetical hire): "
            + ", ".join(sorted(strangers)[:5])
        )
    return capacity_store.aggregate(lines, row.start_date)


async def _check_publishable(ctx: Ctx, rows: list[capacity_store.PublishedAllocation], row: CapacityPlan) -> None:
    people = await capacity_store.people_by_id(ctx.session, [r.person_id for r in rows])
    missing_people = {r.person_id for r in rows} - set(people)
    missing_projects = {r.project_id for r in rows} - set(row.project_ids)
    if missing_people or missing_projects:
        raise Conflict(
            "the plan refers to people or projects that are not (or no longer) records of the org: "
            + ", ".join(str(x) for x in sorted(missing_people | missing_projects, key=str)[:5])
        )


@post(
    "/capacity/plans/{plan_id:uuid}/publish",
    opt={"action": "capacity.publish"},
    status_code=200,
    summary="Publish the plan's allocations (replacing earlier ones for the same projects and weeks)",
)
async def publish_plan(ctx: Ctx, plan_id: uuid.UUID) -> Response[PublicationOut]:
    row: CapacityPlan = await get_row(ctx, CapacityPlan, plan_id, "capacity plan")
    if row.result is None or row.status not in ("done", "cancelled"):
        raise Conflict(f"capacity plan {row.id} is {row.status}; only solved plans can be published")
    if not row.project_ids or row.start_date is None or row.weeks is None:
        raise Conflict(f"capacity plan {row.id} has no projects of the org to publish allocations for")
    allocations = _allocation_rows(row)
    await _check_publishable(ctx, allocations, row)
    try:
        publication = await capacity_store.publish(ctx.session, row, allocations, published_by=ctx.principal.actor.id)
    except capacity_store.StalePlan as exc:
        raise Conflict(str(exc), extra={"newer_plan_id": str(exc.newer.id)}) from exc
    out = msgspec.convert(publication, PublicationOut, from_attributes=True)
    if not publication.already_published:
        await ctx.audit(
            "capacity_plan.publish",
            "capacity_plan",
            row.id,
            after={"allocations": publication.allocations, "hours": str(publication.hours)},
            detail={
                "allocations": publication.allocations,
                "replaced": publication.replaced,
                "first_week": publication.first_week.isoformat(),
                "last_week": publication.last_week.isoformat(),
            },
        )
    return json_response(200, out)  # type: ignore[return-value]


ROUTES = [create_plan, list_plans, get_plan, cancel_plan, what_if, publish_plan]
