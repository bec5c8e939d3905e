"""People: who does the work, what an hour of theirs costs, how many hours they have."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Person, User

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
JobRole = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["ml_engineer"])]
Money = Annotated[Decimal, msgspec.Meta(description=">= 0, per hour")]
Hours = Annotated[Decimal, msgspec.Meta(description="0 to 168")]
Fraction = Annotated[Decimal, msgspec.Meta(description="0 to 1")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
SkillLevel = Annotated[int, msgspec.Meta(ge=1, le=5)]
PersonStatus = Annotated[str, msgspec.Meta(pattern=r"^(active|inactive)$")]


PERSON_CHECKS = {
    "cost_currency": validators.currency,
    "cost_rate": validators.decimal_between(Decimal(0), None),
    "weekly_capacity_hours": validators.decimal_between(Decimal(0), Decimal(168)),
    "utilization_target": validators.decimal_between(Decimal(0), Decimal(1)),
}


class PersonCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    email: Email
    role: JobRole
    cost_rate: Money
    cost_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    weekly_capacity_hours: Hours
    utilization_target: Fraction = Decimal("0.8")
    country: Country | None = None
    skills: dict[str, SkillLevel] = msgspec.field(default_factory=dict)
    user_id: uuid.UUID | None = None

    __field_checks__: ClassVar = PERSON_CHECKS


class PersonPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    role: JobRole | msgspec.UnsetType = msgspec.UNSET
    cost_rate: Money | msgspec.UnsetType = msgspec.UNSET
    cost_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | msgspec.UnsetType = msgspec.UNSET
    weekly_capacity_hours: Hours | msgspec.UnsetType = msgspec.UNSET
    utilization_target: Fraction | msgspec.UnsetType = msgspec.UNSET
    country: Country | msgspec.UnsetType | None = msgspec.UNSET
    skills: dict[str, SkillLevel] | msgspec.UnsetType = msgspec.UNSET
    status: PersonStatus | msgspec.UnsetType = msgspec.UNSET

    __field_checks__: ClassVar = PERSON_CHECKS


class PersonOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    email: str
    role: str
    cost_rate: Decimal
    cost_currency: str
    weekly_capacity_hours: Decimal
    utilization_target: Decimal
    country: str | None
    skills: dict[str, int]
    status: str
    user_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


@get("/people", opt={"action": "people.read"}, summary="List people")
async def list_people(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[PersonOut]:
    return await list_page(ctx, select(Person), Person, PersonOut, limit, cursor)


@post(
    "/people",
    opt={"action": "people.write"},
    dto=Body[PersonCreate],
    return_dto=None,
    summary="Add a person",
    status_code=201,
)
async def create_person(ctx: Ctx, data: PersonCreate) -> Response[PersonOut]:
    if data.user_id is not None:
        await get_row(ctx, User, data.user_id, "user")

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Person(org_id=ctx.org_id, **msgspec.structs.asdict(data))
        return await create_row(ctx, row, PersonOut, "person", location="/v1/people")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/people/{person_id:uuid}", opt={"action": "people.read"}, summary="Get a person")
async def get_person(ctx: Ctx, person_id: uuid.UUID) -> Response[PersonOut]:
    return read_response(ctx, await get_row(ctx, Person, person_id, "person"), PersonOut)  # type: ignore[return-value]


@patch(
    "/people/{person_id:uuid}",
    opt={"action": "people.write"},
    dto=Body[PersonPatch],
    return_dto=None,
    summary="Update a person (If-Match supported)",
)
async def update_person(ctx: Ctx, person_id: uuid.UUID, data: PersonPatch) -> Response[PersonOut]:
    row = await get_row(ctx, Person, person_id, "person", for_update=True)
    return await patch_row(ctx, row, data, PersonOut, "person")  # type: ignore[return-value]


@delete("/people/{person_id:uuid}", opt={"action": "people.write"}, summary="Remove a person", status_code=204)
async def delete_person(ctx: Ctx, person_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, Person, person_id, "person", for_update=True)
    return await delete_row(ctx, row, PersonOut, "person")  # type: ignore[return-value]


ROUTES = [list_people, create_person, get_person, update_person, delete_person]
