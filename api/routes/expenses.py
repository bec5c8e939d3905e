"""Expenses: what was spent on a project, with a receipt reference; optionally re-billed with a markup.

Staff record their own expenses (``submitted``); whoever manages the project — or finance — approves or
rejects them (not their own). ``billable_amount = amount × (1 + markup)``, rounded to the currency's
minor unit, is what WIP counts once approved. Approved expenses and expenses dated in a billing period
locked by an approved invoice cannot be changed (409), though a submitted one can still be decided (once
approved, the next invoice bills it on a late line); a rejected one is corrected and resubmitted by editing it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.params import FromQuery
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for, not_modified
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page, page_of, paginate
from api.problems import Conflict, FieldError, Forbidden, ValidationFailed, not_found
from api.project_scope import gate, load_project, managed, manages, me, require_me
from api.resources import get_row, state_of
from core import decimal_bounds
from core.currencies import is_currency, minor_units
from core.permissions import Role
from insights.expenses import billable_amount
from insights.money import round_money
from persistence.models import Client, Expense, Person, Project
from persistence.time_store import date_locked

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["travel", "software", "gpu"])]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Receipt = Annotated[str, msgspec.Meta(min_length=1, max_length=500, description="receipt file id or URL")]
CHECKS = {
    "amount": validators.decimal_between(Decimal("0.0001"), Decimal(100_000_000)),
    "markup": validators.decimal_between(Decimal(0), Decimal(10)),
    "currency": validators.currency,
}


class ExpenseCreate(msgspec.Struct, forbid_unknown_fields=True):
    project_id: uuid.UUID
    spent_on: date
    category: Category
    description: Text
    amount: Decimal
    currency: CurrencyCode
    receipt_ref: Receipt | None = None
    billable: bool = False
    markup: Annotated[Decimal, msgspec.Meta(description="fraction added when re-billed: 0.15 = 15 %")] = Decimal(0)
    person_id: uuid.UUID | None = None

    __field_checks__: ClassVar = CHECKS

    def problems(self) -> list[FieldError]:
        return _minor_unit_problems(self.amount, self.currency)


class ExpensePatch(msgspec.Struct, forbid_unknown_fields=True):
    spent_on: date | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    amount: Decimal | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    receipt_ref: Receipt | msgspec.UnsetType | None = msgspec.UNSET
    billable: bool | msgspec.UnsetType = msgspec.UNSET
    markup: Decimal | msgspec.UnsetType = msgspec.UNSET

    __field_checks__: ClassVar = CHECKS


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text


class ExpenseOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    person_id: uuid.UUID
    spent_on: date
    category: str
    description: str
    amount: Decimal
    currency: str
    receipt_ref: str | None
    billable: bool
    markup: Decimal
    billable_amount: Decimal
    status: str
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime


def _out(row: Expense) -> ExpenseOut:
    out = msgspec.convert(row, ExpenseOut, from_attributes=True)
    out.amount = round_money(row.amount, row.currency)
    out.billable_amount = round_money(row.billable_amount, row.currency)
    return out


def _minor_unit_problems(amount: object, currency: object) -> list[FieldError]:
    if not (isinstance(amount, Decimal) and isinstance(currency, str) and is_currency(currency)):
        return []
    if decimal_bounds.problem(amount, "decimal") is not None:
        return []  # out of bounds (1E+2087 cannot even be rounded): the bounds check says so, with a 422
    if amount != round_money(amount, currency):
        return [FieldError(pointer="/amount", detail=f"{currency} has {minor_units(currency)} decimal places")]
    return []


async def _may_read(ctx: Ctx, row: Expense) -> bool:
    person = await me(ctx)
    if person is not None and person.id == row.person_id:
        return True
    return ctx.principal.can("expenses.approve") and await manages(ctx, row.project_id)


async def _require_write(ctx: Ctx, person_id: uuid.UUID, project: Project) -> None:
    person = await me(ctx)
    if person is not None and person.id == person_id:
        return
    if ctx.principal.can("time.write_all") and await manages(ctx, project.id):
        return
    raise Forbidden("you may only record your own expenses (or your projects' people's, as their manager)")


async def _check_unlocked(ctx: Ctx, project: Project, day: date) -> None:
    client = (await ctx.session.execute(select(Client).where(Client.id == project.client_id))).scalar_one()
    if await date_locked(ctx.session, client.id, client.timezone, day):
        raise Conflict(f"{day} is in a billing period locked by an approved invoice")


async def load_expense(ctx: Ctx, expense_id: uuid.UUID) -> Expense:
    row: Expense = await get_row(ctx, Expense, expense_id, "expense", for_update=True)
    await load_project(ctx, row.project_id)
    if not await _may_read(ctx, row):
        raise not_found("expense", expense_id)
    return row


@get("/expenses", opt={"action": "expenses.read"}, summary="List expenses you may see")
async def list_expenses(
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    project_id: FromQuery[uuid.UUID | None] = None,
    person_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[str | None] = None,
) -> Page[ExpenseOut]:
    query = select(Expense)
    person = await me(ctx)
    if ctx.principal.can("expenses.approve"):
        scope = await managed(ctx)
        if scope is not None:
            mine = Expense.project_id.in_(scope)
            query = query.where(mine | (Expense.person_id == person.id) if person else mine)
    else:
        person = await require_me(ctx)
        query = query.where(Expense.person_id == person.id)
    for column, value in ((Expense.project_id, project_id), (Expense.person_id, person_id), (Expense.status, status)):
        if value is not None:
            query = query.where(column == value)
    rows = (await ctx.session.execute(paginate(query, Expense.id, limit, cursor))).scalars().all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[_out(r) for r in items], next_cursor=next_cursor)


@post(
    "/expenses",
    opt={"action": "expenses.write"},
    dto=Body[ExpenseCreate],
    return_dto=None,
    summary="Record an expense (submitted for approval)",
    status_code=201,
)
async def create_expense(ctx: Ctx, data: ExpenseCreate) -> Response[ExpenseOut]:
    project = await load_project(ctx, data.project_id)
    person = await require_me(ctx) if data.person_id is None else await get_row(ctx, Person, data.person_id, "person")
    await _require_write(ctx, person.id, project)
    await _check_unlocked(ctx, project, data.spent_on)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = Expense(
            org_id=ctx.org_id,
            project_id=project.id,
            person_id=person.id,
            spent_on=data.spent_on,
            category=data.category,
            description=data.description,
            amount=data.amount,
            currency=data.currency,
            receipt_ref=data.receipt_ref,
            billable=data.billable,
            markup=data.markup,
            billable_amount=billable_amount(data.amount, data.markup, data.currency, billable=data.billable),
            status="submitted",
        )
        ctx.session.add(row)
        await ctx.session.flush()
        await ctx.audit("expense.create", "expense", row.id, after=state_of(row, ExpenseOut))
        return 201, _out(row), {"ETag": etag_for(row.version), "Location": f"/v1/expenses/{row.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/expenses/{expense_id:uuid}", opt={"action": "expenses.read"}, summary="Get an expense")
async def get_expense(ctx: Ctx, expense_id: uuid.UUID) -> Response[ExpenseOut]:
    row = await load_expense(ctx, expense_id)
    if not_modified(ctx.request, row.version):
        return Response(b"", status_code=304, headers={"ETag": etag_for(row.version)})  # type: ignore[return-value]
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@patch(
    "/expenses/{expense_id:uuid}",
    opt={"action": "expenses.write"},
    before_request=gate("expenses", "expense_id", "expense"),
    dto=Body[ExpensePatch],
    return_dto=None,
    summary="Correct an expense that is not approved (a rejected one is resubmitted)",
)
async def update_expense(ctx: Ctx, expense_id: uuid.UUID, data: ExpensePatch) -> Response[ExpenseOut]:
    row = await load_expense(ctx, expense_id)
    project = await load_project(ctx, row.project_id)
    await _require_write(ctx, row.person_id, project)
    check_if_match(ctx.request, row.version)
    if row.status == "approved":
        raise Conflict("the expense is approved; it can no longer be changed")
    await _check_unlocked(ctx, project, row.spent_on)
    if isinstance(data.spent_on, date):
        await _check_unlocked(ctx, project, data.spent_on)
    before = state_of(row, ExpenseOut)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    for name, value in changes.items():
        setattr(row, name, value)
    minor = _minor_unit_problems(row.amount, row.currency)
    if minor:
        raise ValidationFailed("the amount does not fit its currency", errors=minor)
    row.billable_amount = billable_amount(row.amount, row.markup, row.currency, billable=row.billable)
    row.status, row.decided_at, row.decided_by, row.decision_note = "submitted", None, None, None
    await ctx.session.flush()
    await ctx.audit(
        "expense.update",
        "expense",
        row.id,
        before=before,
        after=state_of(row, ExpenseOut),
        detail={"fields": sorted(changes)},
    )
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@delete("/expenses/{expense_id:uuid}", opt={"action": "expenses.write"}, summary="Delete an expense", status_code=204)
async def delete_expense(ctx: Ctx, expense_id: uuid.UUID) -> Response[None]:
    row = await load_expense(ctx, expense_id)
    project = await load_project(ctx, row.project_id)
    await _require_write(ctx, row.person_id, project)
    check_if_match(ctx.request, row.version)
    if row.status == "approved":
        raise Conflict("the expense is approved; it can no longer be deleted")
    await _check_unlocked(ctx, project, row.spent_on)
    before = state_of(row, ExpenseOut)
    await ctx.session.delete(row)
    await ctx.session.flush()
    await ctx.audit("expense.delete", "expense", expense_id, before=before)
    return Response(b"", status_code=204)  # type: ignore[return-value]


async def _decide(ctx: Ctx, row: Expense, status: str, note: str | None) -> Response[bytes]:
    project = await load_project(ctx, row.project_id)
    if not await manages(ctx, project.id):
        raise Forbidden(f"you do not manage project {project.code}")
    person = await me(ctx)
    if person is not None and person.id == row.person_id and ctx.principal.role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden("you cannot decide on your own expense")
    check_if_match(ctx.request, row.version)
    if row.status != "submitted":
        raise Conflict(f"the expense is {row.status}; only a submitted one can be decided")
    # No lock check: deciding changes nothing an approved invoice billed. An expense of an invoiced period
    # approved now is billed by the next invoice on a late line (docs/billing.md), like late-approved time.
    before = state_of(row, ExpenseOut)
    row.status, row.decided_at, row.decided_by = status, datetime.now(UTC), ctx.principal.actor.id
    row.decision_note = note
    await ctx.session.flush()
    action = "approve" if status == "approved" else "reject"
    await ctx.audit(f"expense.{action}", "expense", row.id, before=before, after=state_of(row, ExpenseOut))
    return json_response(200, _out(row), {"ETag": etag_for(row.version)})


@post(
    "/expenses/{expense_id:uuid}/approve",
    opt={"action": "expenses.approve"},
    summary="Approve a submitted expense",
    status_code=200,
)
async def approve_expense(ctx: Ctx, expense_id: uuid.UUID) -> Response[ExpenseOut]:
    return await _decide(ctx, await load_expense(ctx, expense_id), "approved", None)  # type: ignore[return-value]


@post(
    "/expenses/{expense_id:uuid}/reject",
    opt={"action": "expenses.approve"},
    before_request=gate("expenses", "expense_id", "expense"),
    dto=Body[Rejection],
    return_dto=None,
    summary="Reject a submitted expense, with the reason",
    status_code=200,
)
async def reject_expense(ctx: Ctx, expense_id: uuid.UUID, data: Rejection) -> Response[ExpenseOut]:
    return await _decide(ctx, await load_expense(ctx, expense_id), "rejected", data.reason)  # type: ignore[return-value]


ROUTES = [list_expenses, create_expense, get_expense, update_expense, delete_expense, approve_expense, reject_expense]
