"""Prepaid credits on live contracts: grants and top-ups through the API, with their balances.

A grant is appended to the contract's ``prepaid_credits`` (the engine consumes credits in the documented order:
priority, earliest expiry, grant period, id) and recorded as a ``credit_grants`` row, whose ledger workflow books
it once as a liability. Only periods not yet invoiced can receive a grant: an approved invoice never changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from sqlalchemy import select

import billing
from api.context import Ctx
from api.dto import Body
from api.engagements import temporal
from api.idempotency import idempotent_create
from api.problems import Conflict, FieldError, NotFound, ValidationFailed
from api.resources import get_row
from core.currencies import minor_units
from persistence.contract_store import terms_document
from persistence.models import Contract, CreditGrant, Invoice
from workflows import names

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
PeriodText = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class CreditGrantCreate(msgspec.Struct, forbid_unknown_fields=True):
    id: Code
    amount: Annotated[Decimal, msgspec.Meta(description="positive, at the contract currency's exponent")]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    description: Annotated[str, msgspec.Meta(max_length=200)] = ""
    granted: Annotated[PeriodText | None, msgspec.Meta(description="usable from; default the first open period")] = None
    expires_after: PeriodText | None = None
    priority: Annotated[int, msgspec.Meta(ge=0, le=10_000, description="lower is consumed first")] = 100
    scope: Annotated[dict[str, Any], msgspec.Meta(description="as in the terms document; default all kinds")] = {}


class CreditGrantOut(msgspec.Struct):
    id: uuid.UUID
    contract_id: uuid.UUID
    code: str
    description: str
    amount: Decimal
    currency: str
    granted: str
    expires_after: str | None
    priority: int
    scope: dict[str, Any]
    remaining: Annotated[Decimal, msgspec.Meta(description="balance after the last approved invoice")]
    status: Annotated[str, msgspec.Meta(description="scheduled, available, consumed or expired")]
    ledger_status: str
    created_by: str
    created_at: datetime


async def _closed_balances(ctx: Ctx, contract: Contract) -> tuple[str | None, dict[str, Decimal], str]:
    """The last approved period, the credit balances carried out of it, and the first period still open."""
    last = (
        (
            await ctx.session.execute(
                select(Invoice)
                .where(Invoice.contract_id == contract.id, Invoice.status == "approved")
                .order_by(Invoice.period.desc(), Invoice.revision.desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )
    if last is None:
        return None, {}, contract.start_period
    state = msgspec.convert(last.state_after, billing.CarriedState, strict=False)
    return last.period, {b.grant: b.remaining for b in state.credits}, billing.Period.parse(last.period).shift(1).key


def _out(grant: CreditGrant, last_closed: str | None, balances: dict[str, Decimal], first_open: str) -> CreditGrantOut:
    remaining = balances.get(grant.code, grant.amount)
    if grant.code not in balances:
        status = "scheduled" if grant.granted > first_open else "available"
    elif remaining > 0:
        status = "available"
    elif grant.expires_after is None or (last_closed is not None and last_closed <= grant.expires_after):
        status = "consumed"
    else:
        status = "expired"
    return CreditGrantOut(
        id=grant.id,
        contract_id=grant.contract_id,
        code=grant.code,
        description=grant.description,
        amount=grant.amount,
        currency=grant.currency,
        granted=grant.granted,
        expires_after=grant.expires_after,
        priority=grant.priority,
        scope=grant.scope,
        remaining=remaining,
        status=status,
        ledger_status=grant.ledger_status,
        created_by=grant.created_by,
        created_at=grant.created_at,
    )


def _check_amount(amount: Decimal, currency: str) -> list[FieldError]:
    if not amount.is_finite() or amount <= 0:
        return [FieldError(pointer="/amount", detail="expected a positive amount")]
    exponent = minor_units(currency)
    if amount.as_tuple().exponent < -exponent:  # type: ignore[operator]
        return [FieldError(pointer="/amount", detail=f"{currency} amounts have {exponent} decimal place(s)")]
    if amount.adjusted() >= 15:
        return [FieldError(pointer="/amount", detail="at most 15 integer digits")]
    return []


@post(
    "/contracts/{contract_id:uuid}/credits",
    opt={"action": "contracts.write"},
    dto=Body[CreditGrantCreate],
    return_dto=None,
    status_code=201,
    summary="Grant (or top up) prepaid credits on a live contract",
)
async def grant_credits(ctx: Ctx, contract_id: uuid.UUID, data: CreditGrantCreate) -> Response[CreditGrantOut]:
    async def create() -> tuple[int, object, dict[str, str]]:
        row = await get_row(ctx, Contract, contract_id, "contract", for_update=True)
        if row.status in ("terminated", "ended"):
            raise Conflict(f"contract is {row.status}")
        last_closed, balances, first_open = await _closed_balances(ctx, row)
        granted = data.granted or first_open
        errors = _check_amount(data.amount, row.terms.get("currency", data.currency))
        if data.currency != row.terms.get("currency"):
            errors.append(FieldError(pointer="/currency", detail=f"the contract bills in {row.terms.get('currency')}"))
        if granted < first_open:
            errors.append(
                FieldError(
                    pointer="/granted", detail=f"{granted} is already invoiced; the first open period is {first_open}"
                )
            )
        if data.expires_after is not None and data.expires_after < granted:
            errors.append(FieldError(pointer="/expires_after", detail=f"expires before it is granted ({granted})"))
        if errors:
            raise ValidationFailed(f"{len(errors)} problem(s) in the credit grant", errors=errors)
        existing = list(row.terms.get("prepaid_credits") or [])
        if any(entry.get("id") == data.id for entry in existing):
            raise Conflict(f"the contract already has a credit grant {data.id!r}")
        entry: dict[str, Any] = {
            "id": data.id,
            "description": data.description,
            "amount": format(data.amount, "f"),
            "granted": granted,
            "priority": data.priority,
            "scope": data.scope,
        }
        if data.expires_after is not None:
            entry["expires_after"] = data.expires_after
        terms, problems = billing.parse_terms(msgspec.json.encode({**row.terms, "prepaid_credits": [*existing, entry]}))
        if terms is not None:
            problems = billing.validate_terms(terms)
        prefix = f"/prepaid_credits/{len(existing)}"
        if problems or terms is None:
            raise ValidationFailed(
                f"{len(problems)} problem(s) in the credit grant",
                errors=[FieldError(pointer=p.path.removeprefix(prefix) or "/", detail=p.message) for p in problems],
            )
        row.terms = terms_document(terms)
        grant = CreditGrant(
            org_id=ctx.org_id,
            contract_id=row.id,
            code=data.id,
            description=data.description,
            amount=data.amount,
            currency=data.currency,
            granted=granted,
            expires_after=data.expires_after,
            priority=data.priority,
            scope=data.scope,
            created_by=str(ctx.principal.key_id),
        )
        ctx.session.add(grant)
        await ctx.session.flush()
        await ctx.session.refresh(grant)
        out = _out(grant, last_closed, balances, first_open)
        await ctx.audit("contract.credit_grant", "credit_grant", grant.id, after=msgspec.to_builtins(out))
        await (await temporal(ctx)).start_workflow(
            names.CREDIT_GRANT_LEDGER_WORKFLOW,
            args=[str(ctx.org_id), str(grant.id)],
            id=names.credit_grant_ledger_id(str(ctx.org_id), str(grant.id)),
            task_queue=ctx.request.app.state.settings.task_queue,
        )
        return 201, out, {"Location": f"/v1/contracts/{row.id}/credits/{grant.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get(
    "/contracts/{contract_id:uuid}/credits",
    opt={"action": "contracts.read"},
    summary="Prepaid credit grants with the balance left after the last approved invoice",
)
async def list_credits(ctx: Ctx, contract_id: uuid.UUID) -> list[CreditGrantOut]:
    row = await get_row(ctx, Contract, contract_id, "contract")
    last_closed, balances, first_open = await _closed_balances(ctx, row)
    grants = (
        (
            await ctx.session.execute(
                select(CreditGrant).where(CreditGrant.contract_id == row.id).order_by(CreditGrant.id)
            )
        )
        .scalars()
        .all()
    )
    await ctx.audit("contract.credits_read", "contract", row.id)
    return [_out(g, last_closed, balances, first_open) for g in grants]


@get(
    "/contracts/{contract_id:uuid}/credits/{grant_id:uuid}",
    opt={"action": "contracts.read"},
    summary="One prepaid credit grant with its balance",
)
async def get_credit(ctx: Ctx, contract_id: uuid.UUID, grant_id: uuid.UUID) -> CreditGrantOut:
    row = await get_row(ctx, Contract, contract_id, "contract")
    grant = (
        await ctx.session.execute(
            select(CreditGrant).where(CreditGrant.contract_id == row.id, CreditGrant.id == grant_id)
        )
    ).scalar()
    if grant is None:
        raise NotFound("credit grant not found")
    last_closed, balances, first_open = await _closed_balances(ctx, row)
    await ctx.audit("contract.credits_read", "credit_grant", grant.id)
    return _out(grant, last_closed, balances, first_open)


ROUTES = [grant_credits, list_credits, get_credit]
