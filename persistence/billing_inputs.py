"""Everything the rating engine needs for one contract period, read in one transaction.

The billing cycle (to write the invoice) and the API's running-period view (what a dashboard shows) both
call :func:`gather`, so the two can only disagree if the data changed between the calls — which is exactly
what the cycle's reconciliation step detects.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import billing
from persistence.expense_store import unbilled_approved_expenses
from persistence.milestone_store import unbilled_accepted_milestones
from persistence.models import Client, Contract, Invoice
from persistence.time_store import unbilled_approved_time
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


def expenses_since(start_date: date, approved: Sequence[Invoice]) -> date:
    """The first spent-on date whose expenses billing gathers: the contract's start, or the day after the last
    period invoiced before the engine billed expenses (its stored inputs have no ``expenses`` key).

    Expenses of such a period were never on an engine-rated line; whatever was done about them then (a
    manual adjustment line, a separate invoice) is not known here, so they are not billed again now — only
    expenses of periods invoiced since count as billed-or-not by the claim rule.
    """
    since = start_date
    for invoice in approved:
        if "expenses" not in (invoice.inputs or {}):
            since = max(since, billing.Period.parse(invoice.period).shift(1).first_day)
    return since


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
    # Everything approved and not yet on an approved invoice, from the contract's start to the period's end:
    # time (or a milestone) approved after its own period was invoiced is billed here, on a late line.
    time = await unbilled_approved_time(session, contract.client_id, terms.start_date, period.last_day)
    known = {m.id for version in terms.versions for m in version.milestones}
    milestones = {
        m.id: billing.MilestoneAcceptance(id=m.id, accepted_on=m.accepted_on)
        for m in await unbilled_accepted_milestones(
            session, contract.client_id, terms.start_date, period.last_day, list(state.billed_milestones)
        )
        # an earlier period's milestone that these terms do not know belongs to another contract of the client
        if m.accepted_on >= period.first_day or m.id in known
    }
    for extra in extra_milestones:
        milestones.setdefault(extra.id, extra)
    expenses = await unbilled_approved_expenses(
        session, contract.client_id, expenses_since(terms.start_date, approved), period.last_day
    )
    inputs = billing.RatingInputs(
        usage=usage,
        time_entries=[msgspec.convert(msgspec.to_builtins(t), billing.TimeEntry) for t in time],
        milestones=sorted(milestones.values(), key=lambda m: (m.accepted_on, m.id)),
        late_usage=await late_usage(session, contract, terms.timezone, period, approved),
        expenses=[msgspec.convert(msgspec.to_builtins(x), billing.ExpenseEntry) for x in expenses],
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
