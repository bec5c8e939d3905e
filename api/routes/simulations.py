"""Bill-shock simulation of a proposed terms version on a live contract, before finance sends the amendment.

The last N closed (approved) periods are re-rated twice by the pure engine from what their invoices actually
billed — the stored usage, time and milestones of each approved invoice — starting from the state carried into
the first of them: once under the terms in force, once with the proposed version in force from the first
simulated period. Nothing is stored; the read is audited because it discloses billed amounts.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import post
from sqlalchemy import select

import billing
from api.context import Ctx
from api.dto import Body
from api.problems import Conflict, FieldError, ValidationFailed
from api.resources import get_row
from billing.simulate import SiteShock, proposed_terms
from persistence.billing_inputs import decode_terms
from persistence.models import Contract, Invoice

Periods = Annotated[int, msgspec.Meta(ge=1, le=24, description="how many of the last closed periods to re-rate")]
Percent = Annotated[Decimal, msgspec.Meta(description="a site or period moving this many percent is flagged (0-1000)")]


class SimulationCreate(msgspec.Struct, forbid_unknown_fields=True):
    # A terms version (docs/contracts.md), without ``effective_from``: it takes effect from the first simulated
    # period.
    version: dict[str, Any]
    periods: Periods = 3
    threshold_percent: Percent = Decimal(10)


class SiteMove(msgspec.Struct, frozen=True):
    site: str
    name: str
    current: Decimal
    proposed: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool


class PeriodMove(msgspec.Struct, frozen=True):
    period: str
    current_total: Decimal
    proposed_total: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool
    sites: list[SiteMove]


class SimulationOut(msgspec.Struct, frozen=True):
    contract_id: uuid.UUID
    client_id: uuid.UUID
    client: str
    currency: str
    periods: list[PeriodMove]
    sites: Annotated[
        list[SiteMove], msgspec.Meta(description="totals over the simulated periods, largest movers first")
    ]
    current_total: Decimal
    proposed_total: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool


def _proposed_version(document: dict[str, Any], effective_from: str) -> billing.ContractVersion:
    if "effective_from" in document:
        raise ValidationFailed(
            "the proposed version takes effect from the first simulated period",
            errors=[FieldError(pointer="/version/effective_from", detail="not accepted here")],
        )
    try:
        return msgspec.convert({**document, "effective_from": effective_from}, billing.ContractVersion, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError(pointer="/version", detail=str(exc))]) from exc


def _pointer(path: str, proposed_index: int) -> str:
    """A problem in the proposed version points into ``/version``; any other into the contract as a whole."""
    prefix = f"/versions/{proposed_index}"
    if path == prefix or path.startswith(prefix + "/"):
        return "/version" + path[len(prefix) :]
    return "/version"


def _by_movement(sites: list[SiteShock]) -> list[SiteMove]:
    moves = [SiteMove(**msgspec.structs.asdict(s)) for s in sites]
    return sorted(moves, key=lambda s: (-abs(s.difference), s.site))


@post(
    "/contracts/{contract_id:uuid}/simulations",
    opt={"action": "contracts.simulate"},
    dto=Body[SimulationCreate],
    return_dto=None,
    status_code=200,
    summary="Re-rate the last closed periods under a proposed terms version, per site, largest movers first",
)
async def simulate_contract(ctx: Ctx, contract_id: uuid.UUID, data: SimulationCreate) -> SimulationOut:
    row = await get_row(ctx, Contract, contract_id, "contract")
    if not (data.threshold_percent.is_finite() and 0 <= data.threshold_percent <= 1000):
        raise ValidationFailed(
            "threshold_percent must be between 0 and 1000",
            errors=[FieldError(pointer="/threshold_percent", detail="expected a percentage between 0 and 1000")],
        )
    approved = (
        (
            await ctx.session.execute(
                select(Invoice)
                .where(Invoice.contract_id == row.id, Invoice.status == "approved")
                .order_by(Invoice.period.desc())
                .limit(data.periods)
            )
        )
        .scalars()
        .all()
    )
    if not approved:
        raise Conflict("the contract has no closed (approved) period to simulate yet")
    closed = sorted(approved, key=lambda invoice: invoice.period)
    terms = decode_terms(row.terms)
    proposed = proposed_terms(
        terms, _proposed_version(data.version, closed[0].period), billing.Period.parse(closed[0].period)
    )
    problems = billing.validate_terms(proposed)
    if problems:
        raise ValidationFailed(
            f"{len(problems)} problem(s) in the proposed version",
            errors=[
                FieldError(pointer=_pointer(p.path, len(proposed.versions) - 1), detail=p.message) for p in problems
            ],
        )
    inputs = {invoice.period: msgspec.convert(invoice.inputs, billing.RatingInputs, strict=False) for invoice in closed}
    opening = msgspec.convert(closed[0].state_before, billing.CarriedState, strict=False)
    report = billing.simulate(
        terms,
        proposed,
        inputs,
        state=opening,
        periods=[invoice.period for invoice in closed],
        threshold_percent=data.threshold_percent,
    )
    await ctx.audit(
        "contract.simulate",
        "contract",
        row.id,
        detail={"periods": [invoice.period for invoice in closed], "difference": str(report.difference)},
    )
    return SimulationOut(
        contract_id=row.id,
        client_id=row.client_id,
        client=report.client,
        currency=report.currency,
        periods=[
            PeriodMove(
                period=p.period,
                current_total=p.current_total,
                proposed_total=p.proposed_total,
                difference=p.difference,
                percent=p.percent,
                flagged=p.flagged,
                sites=_by_movement(p.sites),
            )
            for p in report.periods
        ],
        sites=_by_movement(report.sites),
        current_total=report.current_total,
        proposed_total=report.proposed_total,
        difference=report.difference,
        percent=report.percent,
        flagged=report.flagged,
    )


ROUTES = [simulate_contract]
