"""Milestones: a fixed amount due on a date, delivered by the agency and accepted (or rejected) by the client.

Lifecycle: ``planned`` → ``delivered`` → ``accepted`` | ``rejected`` (→ ``delivered`` again). Acceptance
is what billing bills (``persistence.milestone_store.accepted_milestones``); an accepted milestone can no
longer be edited or deleted, and an acceptance may not be dated in a billing period already locked.
Client viewers see and accept the milestones of their own client's projects.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page
from api.problems import Conflict, FieldError, ValidationFailed
from api.project_scope import gate, load_project, optional_body, require_manages
from api.resources import create_row, delete_row, get_row, list_page, read_response, state_of
from core.permissions import Role
from persistence.models import Client, Milestone, Phase, Project
from persistence.time_store import date_locked

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="the id contract terms use")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
CHECKS = {"amount": validators.decimal_between(Decimal(0), None), "currency": validators.currency}


class MilestoneCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    amount: Decimal
    currency: CurrencyCode | None = None
    due_date: date | None = None
    phase_id: uuid.UUID | None = None

    __field_checks__: ClassVar = CHECKS


class MilestonePatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    amount: Decimal | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    due_date: date | msgspec.UnsetType | None = msgspec.UNSET
    phase_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET

    __field_checks__: ClassVar = CHECKS


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    on: date | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class MilestoneOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    phase_id: uuid.UUID | None
    code: str
    name: str
    amount: Decimal
    currency: str
    due_date: date | None
    status: str
    delivered_on: date | None
    accepted_on: date | None
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime


async def _client(ctx: Ctx, client_id: uuid.UUID) -> Client:
    return (await ctx.session.execute(select(Client).where(Client.id == client_id))).scalar_one()


async def _check_phase(ctx: Ctx, project_id: uuid.UUID, phase_id: object) -> None:
    if isinstance(phase_id, uuid.UUID):
        owner = (await ctx.session.execute(select(Phase.project_id).where(Phase.id == phase_id))).scalar()
        if owner != project_id:
            raise ValidationFailed(
                "unknown phase", errors=[FieldError(pointer="/phase_id", detail="no such phase in this project")]
            )


async def _may_decide(ctx: Ctx, project: Project) -> None:
    """The client (its viewer, already limited to its projects) or whoever manages the project."""
    if ctx.principal.role is not Role.CLIENT_VIEWER:
        await require_manages(ctx, project)


async def load_milestone(ctx: Ctx, milestone_id: uuid.UUID, *, for_update: bool = False) -> Milestone:
    row: Milestone = await get_row(ctx, Milestone, milestone_id, "milestone", for_update=for_update)
    await load_project(ctx, row.project_id)
    return row


async def _transition(ctx: Ctx, row: Milestone, action: str, before: dict[str, object]) -> Response[bytes]:
    await ctx.session.flush()
    await ctx.audit(f"milestone.{action}", "milestone", row.id, before=before, after=state_of(row, MilestoneOut))
    return json_response(200, msgspec.convert(row, MilestoneOut, from_attributes=True), {"ETag": etag_for(row.version)})


@get("/projects/{project_id:uuid}/milestones", opt={"action": "milestones.read"}, summary="List milestones")
async def list_milestones(
    ctx: Ctx, project_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> Page[MilestoneOut]:
    await load_project(ctx, project_id)
    query = select(Milestone).where(Milestone.project_id == project_id)
    return await list_page(ctx, query, Milestone, MilestoneOut, limit, cursor)


@post(
    "/projects/{project_id:uuid}/milestones",
    opt={"action": "milestones.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[MilestoneCreate],
    return_dto=None,
    summary="Add a milestone (currency defaults to the client's)",
    status_code=201,
)
async def create_milestone(ctx: Ctx, project_id: uuid.UUID, data: MilestoneCreate) -> Response[MilestoneOut]:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    await _check_phase(ctx, project.id, data.phase_id)
    currency = data.currency or (await _client(ctx, project.client_id)).currency

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Milestone(
            org_id=ctx.org_id,
            project_id=project.id,
            phase_id=data.phase_id,
            code=data.code,
            name=data.name,
            amount=data.amount,
            currency=currency,
            due_date=data.due_date,
            status="planned",
        )
        return await create_row(ctx, row, MilestoneOut, "milestone", location="/v1/milestones")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/milestones/{milestone_id:uuid}", opt={"action": "milestones.read"}, summary="Get a milestone")
async def get_milestone(ctx: Ctx, milestone_id: uuid.UUID) -> Response[MilestoneOut]:
    return read_response(ctx, await load_milestone(ctx, milestone_id), MilestoneOut)  # type: ignore[return-value]


@patch(
    "/milestones/{milestone_id:uuid}",
    opt={"action": "milestones.write"},
    before_request=gate("milestones", "milestone_id", "milestone"),
    dto=Body[MilestonePatch],
    return_dto=None,
    summary="Update a milestone that is not accepted yet (If-Match supported)",
)
async def update_milestone(ctx: Ctx, milestone_id: uuid.UUID, data: MilestonePatch) -> Response[MilestoneOut]:
    row = await load_milestone(ctx, milestone_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    check_if_match(ctx.request, row.version)
    if row.status == "accepted":
        raise Conflict(f"milestone {row.code} is accepted; it can no longer be changed")
    await _check_phase(ctx, row.project_id, data.phase_id)
    before = state_of(row, MilestoneOut)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    for name, value in changes.items():
        setattr(row, name, value)
    await ctx.session.flush()
    await ctx.audit(
        "milestone.update",
        "milestone",
        row.id,
        before=before,
        after=state_of(row, MilestoneOut),
        detail={"fields": sorted(changes)},
    )
    return json_response(200, msgspec.convert(row, MilestoneOut, from_attributes=True), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@delete(
    "/milestones/{milestone_id:uuid}",
    opt={"action": "milestones.write"},
    summary="Delete a milestone that is not accepted",
    status_code=204,
)
async def delete_milestone(ctx: Ctx, milestone_id: uuid.UUID) -> Response[None]:
    row = await load_milestone(ctx, milestone_id, for_update=True)
    await require_manages(ctx, await load_project(ctx, row.project_id))
    if row.status == "accepted":
        raise Conflict(f"milestone {row.code} is accepted; it can no longer be deleted")
    return await delete_row(ctx, row, MilestoneOut, "milestone")  # type: ignore[return-value]


@post(
    "/milestones/{milestone_id:uuid}/deliver",
    opt={"action": "milestones.write"},
    summary="Mark a milestone delivered, ready for the client's acceptance (optional body {on, note})",
    status_code=200,
)
async def deliver_milestone(ctx: Ctx, milestone_id: uuid.UUID) -> Response[MilestoneOut]:
    row = await load_milestone(ctx, milestone_id, for_update=True)
    project = await load_project(ctx, row.project_id)
    await require_manages(ctx, project)
    body = optional_body(await ctx.request.body(), Decision)
    check_if_match(ctx.request, row.version)
    if row.status not in ("planned", "rejected"):
        raise Conflict(f"milestone {row.code} is {row.status}; only planned or rejected ones can be delivered")
    before = state_of(row, MilestoneOut)
    client = await _client(ctx, project.client_id)
    row.status = "delivered"
    row.delivered_on = body.on or datetime.now(ZoneInfo(client.timezone)).date()
    row.decision_note = body.note
    return await _transition(ctx, row, "deliver", before)  # type: ignore[return-value]


@post(
    "/milestones/{milestone_id:uuid}/accept",
    opt={"action": "milestones.accept"},
    summary="Accept a milestone (optional body {on, note}; `on` defaults to today in the client's time zone)",
    status_code=200,
)
async def accept_milestone(ctx: Ctx, milestone_id: uuid.UUID) -> Response[MilestoneOut]:
    row = await load_milestone(ctx, milestone_id, for_update=True)
    project = await load_project(ctx, row.project_id)
    await _may_decide(ctx, project)
    body = optional_body(await ctx.request.body(), Decision)
    check_if_match(ctx.request, row.version)
    if row.status not in ("planned", "delivered"):
        raise Conflict(f"milestone {row.code} is {row.status}; only planned or delivered ones can be accepted")
    client = await _client(ctx, project.client_id)
    accepted_on = body.on or datetime.now(ZoneInfo(client.timezone)).date()
    if await date_locked(ctx.session, client.id, client.timezone, accepted_on):
        raise Conflict(f"{accepted_on} is in a billing period locked by an approved invoice; accept it on a later date")
    before = state_of(row, MilestoneOut)
    row.status, row.accepted_on = "accepted", accepted_on
    row.decided_at, row.decided_by, row.decision_note = datetime.now(UTC), ctx.principal.actor.id, body.note
    return await _transition(ctx, row, "accept", before)  # type: ignore[return-value]


@post(
    "/milestones/{milestone_id:uuid}/reject",
    opt={"action": "milestones.accept"},
    before_request=gate("milestones", "milestone_id", "milestone"),
    dto=Body[Rejection],
    return_dto=None,
    summary="Reject a delivered milestone, with the reason",
    status_code=200,
)
async def reject_milestone(ctx: Ctx, milestone_id: uuid.UUID, data: Rejection) -> Response[MilestoneOut]:
    row = await load_milestone(ctx, milestone_id, for_update=True)
    await _may_decide(ctx, await load_project(ctx, row.project_id))
    check_if_match(ctx.request, row.version)
    if row.status != "delivered":
        raise Conflict(f"milestone {row.code} is {row.status}; only delivered ones can be rejected")
    before = state_of(row, MilestoneOut)
    row.status = "rejected"
    row.decided_at, row.decided_by, row.decision_note = datetime.now(UTC), ctx.principal.actor.id, data.reason
    return await _transition(ctx, row, "reject", before)  # type: ignore[return-value]


ROUTES = [
    list_milestones,
    create_milestone,
    get_milestone,
    update_milestone,
    delete_milestone,
    deliver_milestone,
    accept_milestone,
    reject_milestone,
]
