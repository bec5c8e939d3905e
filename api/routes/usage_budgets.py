"""Usage budgets: per client and meter, a quantity or provider-cost limit per (client-local) day or month,
with thresholds in percent. Each threshold fires once per period (``budget.threshold_reached`` webhooks).

Amount budgets compare the provider cost recorded on events (the meter's ``provider_cost_path``), the
agency's own cost: pricing usage at the client's rates belongs to the billing engine.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError, not_found
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Client, Meter, UsageBudget, UsageBudgetAlert

Percent = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Thresholds = Annotated[list[Percent], msgspec.Meta(min_length=1, max_length=10)]
LimitValue = Annotated[
    Decimal, msgspec.Meta(description="positive decimal: a quantity, or a cost in the client currency")
]


def _unique(pointer: str, value: object) -> list[FieldError]:
    if isinstance(value, list) and len(set(value)) != len(value):
        return [FieldError(pointer=pointer, detail="thresholds must be distinct")]
    return []


class BudgetCreate(msgspec.Struct, forbid_unknown_fields=True):
    client_id: uuid.UUID
    meter: str
    limit: LimitValue
    kind: Literal["quantity", "provider_cost"] = "quantity"
    period: Literal["month", "day"] = "month"
    thresholds: Thresholds = msgspec.field(default_factory=lambda: [50, 80, 100])

    __field_checks__: ClassVar = {
        "limit": validators.decimal_between(Decimal("0.000001"), None, "quantity"),
        "thresholds": _unique,
    }


class BudgetPatch(msgspec.Struct, forbid_unknown_fields=True):
    limit_value: LimitValue | msgspec.UnsetType = msgspec.field(name="limit", default=msgspec.UNSET)
    thresholds: Thresholds | msgspec.UnsetType = msgspec.UNSET
    status: Literal["active", "paused"] | msgspec.UnsetType = msgspec.UNSET

    __field_checks__: ClassVar = {
        "limit_value": validators.decimal_between(Decimal("0.000001"), None, "quantity"),
        "thresholds": _unique,
    }


class BudgetOut(msgspec.Struct):
    id: uuid.UUID
    client_id: uuid.UUID
    meter_id: uuid.UUID
    kind: str
    period: str
    limit_value: Decimal = msgspec.field(name="limit")
    thresholds: list[int]
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class AlertOut(msgspec.Struct):
    id: uuid.UUID
    budget_id: uuid.UUID
    period_start: datetime
    period_end: datetime
    threshold: int
    usage: Decimal
    limit_value: Decimal = msgspec.field(name="limit")
    fired_at: datetime


@get("/usage/budgets", opt={"action": "budgets.read"}, summary="List usage budgets")
async def list_budgets(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[BudgetOut]:
    return await list_page(ctx, select(UsageBudget), UsageBudget, BudgetOut, limit, cursor)


@post(
    "/usage/budgets",
    opt={"action": "budgets.write"},
    dto=Body[BudgetCreate],
    return_dto=None,
    summary="Create a usage budget",
    status_code=201,
)
async def create_budget(ctx: Ctx, data: BudgetCreate) -> Response[BudgetOut]:
    await get_row(ctx, Client, data.client_id, "client")
    meter_id = (await ctx.session.execute(select(Meter.id).where(Meter.key == data.meter))).scalar_one_or_none()
    if meter_id is None:
        raise not_found("meter", data.meter)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = UsageBudget(
            org_id=ctx.org_id,
            client_id=data.client_id,
            meter_id=meter_id,
            kind=data.kind,
            period=data.period,
            limit_value=data.limit,
            thresholds=sorted(data.thresholds),
        )
        return await create_row(ctx, row, BudgetOut, "usage_budget", location="/v1/usage/budgets")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/usage/budgets/{budget_id:uuid}", opt={"action": "budgets.read"}, summary="Get a usage budget")
async def get_budget(ctx: Ctx, budget_id: uuid.UUID) -> Response[BudgetOut]:
    return read_response(ctx, await get_row(ctx, UsageBudget, budget_id, "usage budget"), BudgetOut)  # type: ignore[return-value]


@patch(
    "/usage/budgets/{budget_id:uuid}",
    opt={"action": "budgets.write"},
    dto=Body[BudgetPatch],
    return_dto=None,
    summary="Change a budget's limit, thresholds or status (If-Match supported)",
)
async def update_budget(ctx: Ctx, budget_id: uuid.UUID, data: BudgetPatch) -> Response[BudgetOut]:
    row = await get_row(ctx, UsageBudget, budget_id, "usage budget", for_update=True)
    if data.thresholds is not msgspec.UNSET:
        data.thresholds = sorted(data.thresholds)
    return await patch_row(ctx, row, data, BudgetOut, "usage_budget")  # type: ignore[return-value]


@delete(
    "/usage/budgets/{budget_id:uuid}", opt={"action": "budgets.write"}, summary="Delete a usage budget", status_code=204
)
async def delete_budget(ctx: Ctx, budget_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, UsageBudget, budget_id, "usage budget", for_update=True)
    return await delete_row(ctx, row, BudgetOut, "usage_budget")  # type: ignore[return-value]


@get("/usage/budgets/{budget_id:uuid}/alerts", opt={"action": "budgets.read"}, summary="Thresholds a budget fired")
async def list_alerts(ctx: Ctx, budget_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None) -> Page[AlertOut]:
    await get_row(ctx, UsageBudget, budget_id, "usage budget")
    query = select(UsageBudgetAlert).where(UsageBudgetAlert.budget_id == budget_id)
    return await list_page(ctx, query, UsageBudgetAlert, AlertOut, limit, cursor)


ROUTES = [list_budgets, create_budget, get_budget, update_budget, delete_budget, list_alerts]
