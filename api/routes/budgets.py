"""Budgets: hours and money per project and per phase, the basis money burns on, and alert thresholds.

``basis: bill`` budgets what the client pays (time at bill rate + re-billed expenses) and must be in the
client's currency (bill rates are); ``basis: cost`` budgets what the agency spends (time at cost rate +
expenses). ``alert_thresholds`` are fractions of the budget (``0.8`` = 80 %) at which burn reports alert.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, get, put
from sqlalchemy import delete, select
from sqlalchemy.orm.attributes import flag_modified

from api import validators
from api.context import Ctx
from api.dto import Body
from api.etags import check_if_match, etag_for, not_modified
from api.idempotency import json_response
from api.problems import FieldError, NotFound, ValidationFailed
from api.project_scope import gate, load_project, require_manages
from persistence.models import Budget, Client, Phase
from persistence.reports.project_health import DEFAULT_THRESHOLDS

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
MONEY = validators.decimal_between(Decimal(0), None, "amount")
HOURS = validators.decimal_between(Decimal(0), Decimal(10_000_000), "hours")


class Basis(StrEnum):
    BILL = "bill"
    COST = "cost"


class PhaseBudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    phase_id: uuid.UUID
    hours: Decimal | None = None
    amount: Decimal | None = None

    __field_checks__: ClassVar = {"hours": HOURS, "amount": MONEY}


class BudgetPut(msgspec.Struct, forbid_unknown_fields=True):
    basis: Basis = Basis.BILL
    currency: CurrencyCode | None = None
    hours: Decimal | None = None
    amount: Decimal | None = None
    alert_thresholds: list[Decimal] = msgspec.field(default_factory=lambda: list(DEFAULT_THRESHOLDS))
    phases: list[PhaseBudgetIn] = msgspec.field(default_factory=list)

    __field_checks__: ClassVar = {"hours": HOURS, "amount": MONEY, "currency": validators.currency}

    def problems(self) -> list[FieldError]:
        errors = []
        if self.hours is None and self.amount is None:
            errors.append(FieldError(pointer="/hours", detail="give hours, amount or both"))
        for i, t in enumerate(self.alert_thresholds):
            if not (t.is_finite() and Decimal(0) < t <= Decimal(2)):
                errors.append(FieldError(pointer=f"/alert_thresholds/{i}", detail="must be > 0 and <= 2 (200 %)"))
        if len(set(self.alert_thresholds)) != len(self.alert_thresholds):
            errors.append(FieldError(pointer="/alert_thresholds", detail="thresholds must be distinct"))
        seen: set[uuid.UUID] = set()
        for i, phase in enumerate(self.phases):
            if phase.phase_id in seen:
                errors.append(FieldError(pointer=f"/phases/{i}/phase_id", detail="phase listed twice"))
            seen.add(phase.phase_id)
        return errors


class PhaseBudgetOut(msgspec.Struct):
    phase_id: uuid.UUID
    code: str
    name: str
    hours: Decimal | None
    amount: Decimal | None


class BudgetOut(msgspec.Struct):
    project_id: uuid.UUID
    basis: str
    currency: str
    hours: Decimal | None
    amount: Decimal | None
    alert_thresholds: list[Decimal]
    phases: list[PhaseBudgetOut]
    warnings: list[str]
    version: int
    updated_at: datetime


async def _load(ctx: Ctx, project_id: uuid.UUID, *, for_update: bool = False) -> tuple[Budget | None, list[Budget]]:
    query = select(Budget).where(Budget.project_id == project_id)
    if for_update:
        query = query.with_for_update()
    rows = list((await ctx.session.execute(query)).scalars())
    return next((r for r in rows if r.phase_id is None), None), [r for r in rows if r.phase_id is not None]


async def _out(ctx: Ctx, top: Budget, phases: list[Budget]) -> BudgetOut:
    names = {
        p.id: p for p in (await ctx.session.execute(select(Phase).where(Phase.project_id == top.project_id))).scalars()
    }
    phase_rows = sorted(phases, key=lambda b: (names[b.phase_id].position, names[b.phase_id].code))  # type: ignore[index]
    warnings = []
    for field in ("hours", "amount"):
        total = getattr(top, field)
        parts = [getattr(p, field) for p in phases if getattr(p, field) is not None]
        if total is not None and parts and sum(parts) > total:
            warnings.append(f"phase {field} add up to {sum(parts)}, more than the project's {total}")
    return BudgetOut(
        project_id=top.project_id,
        basis=top.basis,
        currency=top.currency,
        hours=top.hours,
        amount=top.amount,
        alert_thresholds=sorted(top.alert_thresholds),
        phases=[
            PhaseBudgetOut(
                phase_id=b.phase_id,  # type: ignore[arg-type]
                code=names[b.phase_id].code,  # type: ignore[index]
                name=names[b.phase_id].name,  # type: ignore[index]
                hours=b.hours,
                amount=b.amount,
            )
            for b in phase_rows
        ],
        warnings=warnings,
        version=top.version,
        updated_at=top.updated_at,
    )


@get("/projects/{project_id:uuid}/budget", opt={"action": "budget.read"}, summary="A project's budget")
async def get_budget(ctx: Ctx, project_id: uuid.UUID) -> Response[BudgetOut]:
    project = await load_project(ctx, project_id)
    await require_manages(ctx, project)
    top, phases = await _load(ctx, project.id)
    if top is None:
        raise NotFound(f"project {project.code} has no budget")
    if not_modified(ctx.request, top.version):
        return Response(b"", status_code=304, headers={"ETag": etag_for(top.version)})  # type: ignore[return-value]
    await ctx.audit("budget.read", "budget", project.id)
    return json_response(200, await _out(ctx, top, phases), {"ETag": etag_for(top.version)})  # type: ignore[return-value]


@put(
    "/projects/{project_id:uuid}/budget",
    opt={"action": "budget.write"},
    before_request=gate("projects", "project_id", "project"),
    dto=Body[BudgetPut],
    return_dto=None,
    summary="Set a project's budget (replaces it; If-Match supported)",
)
async def put_budget(ctx: Ctx, project_id: uuid.UUID, data: BudgetPut) -> Response[BudgetOut]:
    project = await load_project(ctx, project_id, for_update=True)
    await require_manages(ctx, project)
    client = (await ctx.session.execute(select(Client).where(Client.id == project.client_id))).scalar_one()
    currency = data.currency or client.currency
    errors = []
    if data.basis is Basis.BILL and currency != client.currency:
        errors.append(
            FieldError(pointer="/currency", detail=f"a bill-basis budget is in the client's currency {client.currency}")
        )
    phase_ids = set((await ctx.session.execute(select(Phase.id).where(Phase.project_id == project.id))).scalars().all())
    for i, phase in enumerate(data.phases):
        if phase.phase_id not in phase_ids:
            errors.append(FieldError(pointer=f"/phases/{i}/phase_id", detail="no such phase in this project"))
    if errors:
        raise ValidationFailed("the budget does not fit the project", errors=errors)
    top, phases = await _load(ctx, project.id, for_update=True)
    before = None
    if top is not None:
        check_if_match(ctx.request, top.version)
        before = msgspec.to_builtins(await _out(ctx, top, phases))
    else:
        top = Budget(org_id=ctx.org_id, project_id=project.id, phase_id=None)
        ctx.session.add(top)
    top.basis, top.currency, top.hours, top.amount = data.basis.value, currency, data.hours, data.amount
    top.alert_thresholds = sorted(data.alert_thresholds)
    await ctx.session.execute(delete(Budget).where(Budget.project_id == project.id, Budget.phase_id.is_not(None)))
    new_phases = [
        Budget(
            org_id=ctx.org_id,
            project_id=project.id,
            phase_id=p.phase_id,
            hours=p.hours,
            amount=p.amount,
            currency=currency,
            basis=data.basis.value,
            alert_thresholds=top.alert_thresholds,
        )
        for p in data.phases
    ]
    ctx.session.add_all(new_phases)
    if before is not None:
        flag_modified(top, "basis")  # the budget document changed as a whole: bump its version (ETag)
    await ctx.session.flush()
    out = await _out(ctx, top, new_phases)
    await ctx.audit("budget.put", "budget", project.id, before=before, after=msgspec.to_builtins(out))
    return json_response(200, out, {"ETag": etag_for(top.version)})  # type: ignore[return-value]


ROUTES = [get_budget, put_budget]
