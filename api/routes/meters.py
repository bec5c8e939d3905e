"""Meters: which CloudEvents ``type`` counts as usage, how it aggregates, and by which dimensions.

The definition is immutable after creation (events record the meters they matched and rollups are keyed by
the meter's dimensions); PATCH changes only the name, description, unit, status and ``allow_negative``
(which decides what ingest accepts from now on, never how stored events count). To change how usage is
measured, create a meter with a new key and archive the old one: archived meters stop matching new events
and their history stays queryable.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from litestar import Response, get, patch, post
from sqlalchemy import select

from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError
from api.resources import create_row, get_row, list_page, patch_row, read_response
from persistence.models import Meter
from persistence.models.meter import MAX_DIMENSIONS

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", examples=["tokens"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["com.example.ai.tokens"])]
Path = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,7}$",
        description="dotted path of object keys inside the event's `data`, e.g. `usage.input_tokens`",
        examples=["tokens"],
    ),
]
DimensionName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Aggregation = Literal["sum", "count", "max", "unique_count", "latest"]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Status = Literal["active", "archived"]
_DIMENSION = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _check_group_by(pointer: str, value: object) -> list[FieldError]:
    if not isinstance(value, dict):
        return []
    errors = []
    if len(value) > MAX_DIMENSIONS:
        errors.append(FieldError(pointer=pointer, detail=f"at most {MAX_DIMENSIONS} dimensions besides the site"))
    for name in value:
        if name == "site":
            errors.append(FieldError(pointer=f"{pointer}/site", detail="the site is always a dimension; use site_path"))
        elif not _DIMENSION.match(name):
            errors.append(FieldError(pointer=f"{pointer}/{name}", detail="dimension names match ^[a-z][a-z0-9_]*$"))
    return errors


class MeterCreate(msgspec.Struct, forbid_unknown_fields=True):
    key: Key
    name: Name
    event_type: EventType
    aggregation: Aggregation
    value_path: Path | None = None
    provider_cost_path: Path | None = None
    site_path: Path | None = "site"
    group_by: dict[str, Path] = msgspec.field(default_factory=dict)
    unit: Unit | None = None
    description: str | None = None
    allow_negative: bool = False
    """Accept negative values and costs (corrections); otherwise ingest rejects them as `negative_value`."""

    __field_checks__: ClassVar = {"group_by": _check_group_by}

    def problems(self) -> list[FieldError]:
        if self.aggregation == "count" and self.value_path is not None:
            return [FieldError(pointer="/value_path", detail="a count meter counts events; it takes no value_path")]
        if self.aggregation != "count" and self.value_path is None:
            return [FieldError(pointer="/value_path", detail=f"a {self.aggregation} meter needs a value_path")]
        return []


class MeterPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    unit: Unit | msgspec.UnsetType | None = msgspec.UNSET
    status: Status | msgspec.UnsetType = msgspec.UNSET
    allow_negative: bool | msgspec.UnsetType = msgspec.UNSET


class MeterOut(msgspec.Struct):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    event_type: str
    aggregation: str
    value_path_text: str | None = msgspec.field(name="value_path")
    provider_cost_path_text: str | None = msgspec.field(name="provider_cost_path")
    site_path_text: str | None = msgspec.field(name="site_path")
    group_by: dict[str, str]
    unit: str | None
    status: str
    allow_negative: bool
    version: int
    created_at: datetime
    updated_at: datetime


def _split(path: str | None) -> list[str] | None:
    return path.split(".") if path else None


@get("/meters", opt={"action": "meters.read"}, summary="List meters")
async def list_meters(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[MeterOut]:
    return await list_page(ctx, select(Meter), Meter, MeterOut, limit, cursor)


@post(
    "/meters",
    opt={"action": "meters.write"},
    dto=Body[MeterCreate],
    return_dto=None,
    summary="Create a meter",
    status_code=201,
)
async def create_meter(ctx: Ctx, data: MeterCreate) -> Response[MeterOut]:
    """Events of `event_type` whose `subject` is a client's external key start counting for this meter
    from the moment it is created (meters are not applied retroactively)."""

    async def create() -> tuple[int, object, dict[str, str]]:
        names = list(data.group_by)
        paths = [_split(data.group_by[name]) for name in names] + [None] * (MAX_DIMENSIONS - len(names))
        row = Meter(
            org_id=ctx.org_id,
            key=data.key,
            name=data.name,
            description=data.description,
            event_type=data.event_type,
            aggregation=data.aggregation,
            value_path=_split(data.value_path),
            provider_cost_path=_split(data.provider_cost_path),
            site_path=_split(data.site_path),
            dim_names=names,
            dim1_path=paths[0],
            dim2_path=paths[1],
            dim3_path=paths[2],
            dim4_path=paths[3],
            unit=data.unit,
            allow_negative=data.allow_negative,
        )
        return await create_row(ctx, row, MeterOut, "meter", location="/v1/meters")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/meters/{meter_id:uuid}", opt={"action": "meters.read"}, summary="Get a meter")
async def get_meter(ctx: Ctx, meter_id: uuid.UUID) -> Response[MeterOut]:
    return read_response(ctx, await get_row(ctx, Meter, meter_id, "meter"), MeterOut)  # type: ignore[return-value]


@patch(
    "/meters/{meter_id:uuid}",
    opt={"action": "meters.write"},
    dto=Body[MeterPatch],
    return_dto=None,
    summary="Rename, describe or archive a meter, or allow negative values (If-Match supported)",
)
async def update_meter(ctx: Ctx, meter_id: uuid.UUID, data: MeterPatch) -> Response[MeterOut]:
    row = await get_row(ctx, Meter, meter_id, "meter", for_update=True)
    return await patch_row(ctx, row, data, MeterOut, "meter")  # type: ignore[return-value]


ROUTES = [list_meters, create_meter, get_meter, update_meter]
