"""Everything the rating engine needs for one contract period, read in one transaction.

The billing cycle (to write the invoice) and the API's running-period view (what a dashboard shows) both
call :func:`gather`, so the two can only disagree if the data changed between the calls — which is exactly
what the cycle's reconciliation step detects.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import billing
from persistence.milestone_store import accepted_milestones
from persistence.models import Client, Contract, Invoice
from persistence.time_store import approved_time
from persistence.usage_store import period_usage

LATE_LOOKBACK_PERIODS = 13


class Gathered(msgspec.Struct, frozen=True, kw_only=True):
    terms: billing.ContractTerms
    inputs: billing.RatingInputs
    state: billing.CarriedState
    client_name: str
    client_key: str
    as_of: datetime


class ContractNotFound(LookupError):
    pass


def decode_terms(document: dict[str, Any]) -> billing.ContractTerms:
    return msgspec.convert(document, billing.ContractTerms, strict=False)


def _usage_key(aggregate: billing.UsageAggregate) -> tuple[str, tuple[tuple[str, str], ...]]:
    return aggregate.meter, tuple(sorted(aggregate.dimensions.items()))


def usage_delta(
    now: Iterable[billing.UsageAggregate], billed: Iterable[billing.UsageAggregate]
) -> list[billing.UsageAggregate]:
    """What arrived since billing, per meter and dimensions: ``now - billed`` (zero rows dropped)."""
    quantity: dict[Any, Decimal] = defaultdict(Decimal)
    cost: dict[Any, Decimal | None] = {}
    for sign, aggregates in ((1, now), (-1, billed)):
        for a in aggregates:
            key = _usage_key(a)
            quantity[key] += sign * a.quantity
            if a.provider_cost is not None:
                cost[key] = (cost.get(key) or Decimal(0)) + sign * a.provider_cost
    delta = []
    for key in sorted(quantity):
        if quantity[key] == 0 and not cost.get(key):
            continue
        meter, dims = key
        delta.append(
            billing.UsageAggregate(
                meter=meter, dimensions=dict(dims), quantity=quantity[key], provider_cost=cost.get(key)
            )
        )
    return delta


async def usage_for(
    session: AsyncSession, client_id: uuid.UUID, period: billing.Period, timezone: str
) -> list[billing.UsageAggregate]:
    start, end = billing.period_bounds(period, timezone)
    rows = await period_usage(session, client_id, start, end)
    return [
        billing.UsageAggregate(
            meter=row.meter, dimensions=dict(row.dimensions), quantity=row.quantity, provider_cost=row.provider_cost
        )
        for row in rows
    ]


async def late_usage(
    session: AsyncSession,
    contract: Contract,
    timezone: str,
    period: billing.Period,
    approved: Sequence[Invoice],
) -> list[billing.LateUsage]:
    """Usage of already-invoiced periods that arrived after their invoice: now minus everything billed."""
    billed: dict[str, list[billing.UsageAggregate]] = defaultdict(list)
    for invoice in approved:
        inputs = msgspec.convert(invoice.inputs, billing.RatingInputs, strict=False)
        billed[invoice.period] += inputs.usage
        for late in inputs.late_usage:
            billed[late.period] += late.usage
    result = []
    earliest = period.shift(-LATE_LOOKBACK_PERIODS)
    for invoice in approved:
        closed = billing.Period.parse(invoice.period)
        if closed >= period or closed < earliest:
            continue
        delta = usage_delta(await usage_for(session, contract.client_id, closed, timezone), billed[invoice.period])
        if delta:
            result.append(billing.LateUsage(period=invoice.period, usage=delta))
    return result


async def gather(
    session: AsyncSession,
    contract_id: uuid.UUID,
    period: billing.Period,
    *,
    extra_milestones: Sequence[billing.MilestoneAcceptance] = (),
    terminated_on: Any = None,
) -> Gathered:
    contract = (await session.execute(select(Contract).where(Contract.id == contract_id))).scalar_one_or_none()
    if contract is None:
        raise ContractNotFound(str(contract_id))
    client = (await session.execute(select(Client).where(Client.id == contract.client_id))).scalar_one()
    terms = decode_terms(contract.terms)
    approved = (
        (
            await session.execute(
                select(Invoice)
                .where(Invoice.contract_id == contract_id, Invoice.status == "approved", Invoice.period < str(period))
                .order_by(Invoice.period)
            )
        )
        .scalars()
        .all()
    )
    state = (
        msgspec.convert(approved[-1].state_after, billing.CarriedState, strict=False)
        if approved
        else billing.CarriedState()
    )
    usage = await usage_for(session, contract.client_id, period, terms.timezone)
    time = await approved_time(session, contract.client_id, period.first_day, period.last_day)
    milestones = {
        m.id: billing.MilestoneAcceptance(id=m.id, accepted_on=m.accepted_on)
        for m in await accepted_milestones(session, contract.client_id, period.first_day, period.last_day)
    }
    for extra in extra_milestones:
        milestones.setdefault(extra.id, extra)
    inputs = billing.RatingInputs(
        usage=usage,
        time_entries=[msgspec.convert(msgspec.to_builtins(t), billing.TimeEntry) for t in time],
        milestones=sorted(milestones.values(), key=lambda m: (m.accepted_on, m.id)),
        late_usage=await late_usage(session, contract, terms.timezone, period, approved),
        terminated_on=terminated_on,
    )
    return Gathered(
        terms=terms,
        inputs=inputs,
        state=state,
        client_name=client.name,
        client_key=client.external_key,
        as_of=datetime.now(UTC),
    )
