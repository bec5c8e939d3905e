"""Rate cards: hourly bill rates per role for a client, optionally overridden per project.

These price WIP and burn at bill rate (contract terms price invoices, issue 6). Rates are snapshotted on
each time entry when it is written; replacing a card re-prices every entry of its scope that is not in a
locked billing period, so history already invoiced never moves. See ``persistence/models/bill_rate.py``
for how the most specific rate is chosen.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, get, put
from sqlalchemy import delete, select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import json_response
from api.problems import FieldError, Forbidden
from api.project_scope import gate, load_project, require_manages
from api.resources import get_row
from core.permissions import Role
from persistence.models import BillRate, Client
from persistence.time_store import reprice_unlocked

RoleName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RateIn(msgspec.Struct, forbid_unknown_fields=True):
    hourly_rate: Decimal
    role: RoleName | None = None
    valid_from: date | None = None

    __field_checks__: ClassVar = {"hourly_rate": validators.decimal_between(Decimal(0), Decimal(1_000_000))}


class RateCardPut(msgspec.Struct, forbid_unknown_fields=True):
    rates: list[RateIn]

    def problems(self) -> list[FieldError]:
        seen: set[tuple[str | None, date | None]] = set()
        errors = []
        for i, rate in enumerate(self.rates):
            key = (rate.role, rate.valid_from)
            if key in seen:
                errors.append(FieldError(pointer=f"/rates/{i}", detail="the same role and valid_from appear twice"))
            seen.add(key)
        return errors


class RateOut(msgspec.Struct):
    role: str | None
    hourly_rate: Decimal
    currency: str
    valid_from: date | None


class RateCardOut(msgspec.Struct):
    client_id: uuid.UUID
    project_id: uuid.UUID | None
    currency: str
    rates: list[RateOut]
    repriced_entries: int | None = None


async def _card(ctx: Ctx, client: Client, project_id: uuid.UUID | None, repriced: int | None = None) -> RateCardOut:
    query = select(BillRate).where(BillRate.client_id == client.id)
    query = query.where(BillRate.project_id == project_id if project_id else BillRate.project_id.is_(None))
    rows = (await ctx.session.execute(query.order_by(BillRate.role, BillRate.valid_from))).scalars().all()
    return RateCardOut(
        client_id=client.id,
        project_id=project_id,
        currency=client.currency,
        rates=[RateOut(r.role, r.hourly_rate, r.currency, r.valid_from) for r in rows],
        repriced_entries=repriced,
    )


async def _replace(ctx: Ctx, client: Client, project_id: uuid.UUID | None, data: RateCardPut) -> RateCardOut:
    before = msgspec.to_builtins(await _card(ctx, client, project_id))
    scope = BillRate.project_id == project_id if project_id else BillRate.project_id.is_(None)
    await ctx.session.execute(delete(BillRate).where(BillRate.client_id == client.id, scope))
    for rate in data.rates:
        ctx.session.add(
            BillRate(
                org_id=ctx.org_id,
                client_id=client.id,
                project_id=project_id,
                role=rate.role,
                hourly_rate=rate.hourly_rate,
                currency=client.currency,
                valid_from=rate.valid_from,
            )
        )
    await ctx.session.flush()
    repriced = await reprice_unlocked(ctx.session, client_id=client.id, project_id=project_id)
    card = await _card(ctx, client, project_id, repriced)
    await ctx.audit(
        "rate_card.replace",
        "rate_card",
        project_id or client.id,
        before=before,
        after=msgspec.to_builtins(card),
        detail={"repriced_entries": repriced},
    )
    return card


@get("/clients/{client_id:uuid}/rates", opt={"action": "budget.read"}, summary="A client's rate card")
async def get_client_rates(ctx: Ctx, client_id: uuid.UUID) -> RateCardOut:
    client = await get_row(ctx, Client, client_id, "client")
    card = await _card(ctx, client, None)
    await ctx.audit("rate_card.read", "rate_card", client.id)
    return card


@put(
    "/clients/{client_id:uuid}/rates",
    opt={"action": "budget.write"},
    before_request=gate("clients", "client_id", "client"),
    dto=Body[RateCardPut],
    return_dto=None,
    summary="Replace a client's rate card (rates in the client's currency); re-prices unlocked time",
)
async def put_client_rates(ctx: Ctx, client_id: uuid.UUID, data: RateCardPut) -> Response[RateCardOut]:
    client = await get_row(ctx, Client, client_id, "client", for_update=True)
    if ctx.principal.role is Role.PM:
        raise Forbidden("a pm may change the rate cards of its projects, not a client's")
    return json_response(200, await _replace(ctx, client, None, data))  # type: ignore[return-value]


@get("/projects/{project_id:uuid}/rates", opt={"action": "budget.read"}, summary="A project's own rate card")
async def get_project_rates(ctx: Ctx, project_id: uuid.UUID) -> RateCardOut:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    client = await get_row(ctx, Client, project.client_id, "client")
    card = await _card(ctx, client, project.id)
    await ctx.audit("rate_card.read", "rate_card", project.id)
    return card


@put(
    "/projects/{project_id:uuid}/rates",
    opt={"action": "budget.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[RateCardPut],
    return_dto=None,
    summary="Replace a project's rate overrides; re-prices the project's unlocked time",
)
async def put_project_rates(ctx: Ctx, project_id: uuid.UUID, data: RateCardPut) -> Response[RateCardOut]:
    project = await load_project(ctx, project_id, for_update=True)
    await require_manages(ctx, project)
    client = await get_row(ctx, Client, project.client_id, "client")
    return json_response(200, await _replace(ctx, client, project.id, data))  # type: ignore[return-value]


ROUTES = [get_client_rates, put_client_rates, get_project_rates, put_project_rates]
