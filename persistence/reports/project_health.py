"""Burn, forecast and health of one project, as of a date: gathers exact sums, then ``insights``.

Money is counted in the budget's currency (the client's currency when there is no budget). Entries whose
snapshotted rate is in another currency are left out of money figures and reported in ``warnings``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from insights import forecast as fc
from insights import health as hl
from insights.burn import Actuals, Basis, BurnFigures, DayBurn, ThresholdAlert, burn_figures, threshold_alerts
from insights.calendar import week_start
from insights.money import SIXTY, ZERO, hours_of, round_hours, round_money
from insights.rates import Rate, resolve_rate
from persistence.models import BillRate, Budget, Client, Phase, Project

DEFAULT_THRESHOLDS = [Decimal("0.5"), Decimal("0.75"), Decimal("0.9"), Decimal("1")]

_TIME = text(
    """
    SELECT e.work_date AS day, e.phase_id,
           sum(e.minutes) AS minutes,
           coalesce(sum(e.minutes) FILTER (WHERE e.billable), 0) AS billable_minutes,
           coalesce(sum(e.minutes) FILTER (WHERE e.status = 'approved'), 0) AS approved_minutes,
           coalesce(sum(e.minutes) FILTER (WHERE e.billable AND e.bill_rate IS NULL), 0) AS unpriced_minutes,
           coalesce(sum(e.minutes * e.cost_rate) FILTER (WHERE e.cost_currency = :currency), 0) AS cost_x60,
           coalesce(sum(e.minutes * e.bill_rate) FILTER (WHERE e.billable AND e.bill_currency = :currency), 0)
             AS value_x60,
           count(*) FILTER (WHERE e.cost_currency <> :currency) AS foreign_cost,
           count(*) FILTER (WHERE e.billable AND e.bill_currency <> :currency) AS foreign_bill
    FROM time_entries e
    WHERE e.project_id = :project_id AND e.work_date <= :as_of
    GROUP BY 1, 2
    """
)

_EXPENSES = text(
    """
    SELECT x.spent_on AS day,
           coalesce(sum(x.amount) FILTER (WHERE x.status <> 'rejected' AND x.currency = :currency), 0) AS cost,
           coalesce(sum(x.billable_amount) FILTER (
             WHERE x.status = 'approved' AND x.billable AND x.currency = :currency), 0) AS rebill,
           count(*) FILTER (WHERE x.status <> 'rejected' AND x.currency <> :currency) AS foreign
    FROM expenses x
    WHERE x.project_id = :project_id AND x.spent_on <= :as_of
    GROUP BY 1
    """
)

_ALLOCATIONS = text(
    """
    SELECT a.week_start, a.person_id, a.hours, pe.role, pe.cost_rate, pe.cost_currency
    FROM capacity_allocations a JOIN people pe ON pe.id = a.person_id
    WHERE a.project_id = :project_id AND a.week_start >= :week
    ORDER BY a.week_start, a.person_id
    """
)

_WEEK_SO_FAR = text(
    """
    SELECT person_id, sum(minutes) AS minutes FROM time_entries
    WHERE project_id = :project_id AND work_date >= :week AND work_date <= :as_of
    GROUP BY person_id
    """
)

_MILESTONES = text(
    "SELECT code, name, due_date FROM milestones "
    "WHERE project_id = :project_id AND status <> 'accepted' AND due_date IS NOT NULL"
)

_TASKS = text(
    """
    SELECT coalesce(sum(estimate_hours) FILTER (WHERE status = 'done'), 0) AS done,
           coalesce(sum(estimate_hours) FILTER (WHERE status <> 'cancelled'), 0) AS total
    FROM tasks WHERE project_id = :project_id
    """
)


class BudgetView(msgspec.Struct, kw_only=True):
    currency: str
    basis: str
    hours: Decimal | None
    amount: Decimal | None
    thresholds: list[Decimal]


class PhaseBurn(msgspec.Struct, kw_only=True):
    phase_id: uuid.UUID
    code: str
    name: str
    burn: BurnFigures
    alerts: list[ThresholdAlert]


class BurnReport(msgspec.Struct, kw_only=True):
    project_id: uuid.UUID
    as_of: date
    budget: BudgetView | None
    currency: str
    basis: str
    burn: BurnFigures
    alerts: list[ThresholdAlert]
    phases: list[PhaseBurn]
    warnings: list[str]


class RunRateView(msgspec.Struct, kw_only=True):
    weeks: int
    weekly_hours: Decimal
    weekly_amount: Decimal


class ForecastReport(msgspec.Struct, kw_only=True):
    project_id: uuid.UUID
    as_of: date
    currency: str
    basis: str
    budget_hours: Decimal | None
    budget_amount: Decimal | None
    actual_hours: Decimal
    actual_amount: Decimal
    run_rate: RunRateView
    remaining_allocated_hours: Decimal
    remaining_allocated_amount: Decimal
    run_rate_projection_hours: Decimal
    run_rate_projection_amount: Decimal
    eac_hours: Decimal
    eac_amount: Decimal
    vac_hours: Decimal | None
    vac_amount: Decimal | None
    hours_exhausted_on: date | None
    amount_exhausted_on: date | None
    horizon: date | None
    alerts: list[ThresholdAlert]
    health: hl.Health
    notes: list[str]
    warnings: list[str]


class _State(msgspec.Struct, kw_only=True):
    project: Project
    client: Client
    budget: BudgetView | None
    phase_budgets: dict[uuid.UUID, Budget]
    phases: list[Phase]
    currency: str
    basis: Basis
    per_phase: dict[uuid.UUID | None, Actuals]
    daily: list[DayBurn]
    daily_by_phase: dict[uuid.UUID | None, list[DayBurn]]
    warnings: list[str]


async def _state(session: AsyncSession, project: Project, as_of: date) -> _State:
    client = (await session.execute(select(Client).where(Client.id == project.client_id))).scalar_one()
    budgets = (await session.execute(select(Budget).where(Budget.project_id == project.id))).scalars().all()
    top = next((b for b in budgets if b.phase_id is None), None)
    phase_budgets = {b.phase_id: b for b in budgets if b.phase_id is not None}
    phases = list(
        (
            await session.execute(
                select(Phase).where(Phase.project_id == project.id).order_by(Phase.position, Phase.code)
            )
        ).scalars()
    )
    currency = top.currency if top else client.currency
    basis = Basis(top.basis) if top else Basis.BILL
    budget = (
        BudgetView(
            currency=top.currency,
            basis=top.basis,
            hours=top.hours,
            amount=top.amount,
            thresholds=sorted(top.alert_thresholds),
        )
        if top
        else None
    )
    params = {"project_id": project.id, "as_of": as_of, "currency": currency}
    per_phase: dict[uuid.UUID | None, Actuals] = defaultdict(Actuals)
    per_day: dict[date, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    per_phase_day: dict[uuid.UUID | None, dict[date, list[Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: [ZERO, ZERO])
    )
    foreign = 0
    for r in (await session.execute(_TIME, params)).all():
        actuals = Actuals(
            minutes=r.minutes,
            billable_minutes=r.billable_minutes,
            approved_minutes=r.approved_minutes,
            unpriced_billable_minutes=r.unpriced_minutes,
            time_cost=r.cost_x60 / SIXTY,
            time_value=r.value_x60 / SIXTY,
        )
        per_phase[r.phase_id] = per_phase[r.phase_id].plus(actuals)
        for bucket in (per_day[r.day], per_phase_day[r.phase_id][r.day]):
            bucket[0] += hours_of(r.minutes)
            bucket[1] += actuals.amount(basis)
        foreign += r.foreign_cost if basis is Basis.COST else r.foreign_bill
    for r in (await session.execute(_EXPENSES, params)).all():
        extra = Actuals(expense_cost=r.cost, expense_rebill=r.rebill)
        per_phase[None] = per_phase[None].plus(extra)
        per_day[r.day][1] += extra.amount(basis)
        per_phase_day[None][r.day][1] += extra.amount(basis)
        foreign += r.foreign
    warnings = []
    if foreign:
        warnings.append(f"{foreign} entries or expenses are priced in another currency than {currency}: not counted")
    unpriced = sum((a.unpriced_billable_minutes for a in per_phase.values()), ZERO)
    if unpriced > ZERO and basis is Basis.BILL:
        hours = round_hours(hours_of(unpriced))
        warnings.append(f"{hours} billable hours have no bill rate: money burn is understated")

    def series(days: dict[date, list[Decimal]]) -> list[DayBurn]:
        return [DayBurn(day, v[0], v[1]) for day, v in sorted(days.items())]

    return _State(
        project=project,
        client=client,
        budget=budget,
        phase_budgets=phase_budgets,
        phases=phases,
        currency=currency,
        basis=basis,
        per_phase=dict(per_phase),
        daily=series(per_day),
        daily_by_phase={k: series(v) for k, v in per_phase_day.items()},
        warnings=warnings,
    )


def _total(state: _State) -> Actuals:
    total = Actuals()
    for actuals in state.per_phase.values():
        total = total.plus(actuals)
    return total


async def burn_report(session: AsyncSession, project: Project, as_of: date) -> BurnReport:
    state = await _state(session, project, as_of)
    b = state.budget
    thresholds = b.thresholds if b else DEFAULT_THRESHOLDS
    phases = []
    for phase in state.phases:
        pb = state.phase_budgets.get(phase.id)
        actuals = state.per_phase.get(phase.id, Actuals())
        hours, amount = (pb.hours, pb.amount) if pb else (None, None)
        phases.append(
            PhaseBurn(
                phase_id=phase.id,
                code=phase.code,
                name=phase.name,
                burn=burn_figures(actuals, state.basis, state.currency, hours, amount),
                alerts=threshold_alerts(state.daily_by_phase.get(phase.id, []), thresholds, hours, amount),
            )
        )
    return BurnReport(
        project_id=project.id,
        as_of=as_of,
        budget=b,
        currency=state.currency,
        basis=state.basis.value,
        burn=burn_figures(_total(state), state.basis, state.currency, b.hours if b else None, b.amount if b else None),
        alerts=threshold_alerts(state.daily, thresholds, b.hours if b else None, b.amount if b else None),
        phases=phases,
        warnings=state.warnings,
    )


async def _allocations(session: AsyncSession, state: _State, as_of: date) -> tuple[list[fc.WeekPlan], list[str]]:
    week = week_start(as_of)
    params = {"project_id": state.project.id, "week": week, "as_of": as_of}
    rows = (await session.execute(_ALLOCATIONS, params)).all()
    if not rows:
        return [], []
    so_far = {r.person_id: hours_of(r.minutes) for r in (await session.execute(_WEEK_SO_FAR, params)).all()}
    rates = [
        Rate(
            project_id=r.project_id,
            role=r.role,
            hourly_rate=r.hourly_rate,
            currency=r.currency,
            valid_from=r.valid_from,
        )
        for r in (await session.execute(select(BillRate).where(BillRate.client_id == state.client.id))).scalars()
    ]
    plans: dict[date, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    unpriced: set[str] = set()
    for r in rows:
        hours = r.hours
        if r.week_start == week:
            hours = max(ZERO, hours - so_far.get(r.person_id, ZERO))
        if state.basis is Basis.COST:
            price = r.cost_rate if r.cost_currency == state.currency else None
        else:
            rate = resolve_rate(rates, state.project.id, r.role, r.week_start)
            price = rate.hourly_rate if rate is not None and rate.currency == state.currency else None
        if price is None:
            unpriced.add(r.role)
        plans[r.week_start][0] += hours
        plans[r.week_start][1] += hours * (price or ZERO)
    warnings = [f"allocations of role {role} have no {state.basis.value} rate in {state.currency}" for role in unpriced]
    return [fc.WeekPlan(w, v[0], v[1]) for w, v in sorted(plans.items())], sorted(warnings)


async def forecast_report(
    session: AsyncSession, project: Project, as_of: date, *, run_rate_weeks: int = 4
) -> ForecastReport:
    state = await _state(session, project, as_of)
    b = state.budget
    plans, alloc_warnings = await _allocations(session, state, as_of)
    result = fc.forecast(
        fc.ForecastInput(
            as_of=as_of,
            daily_actuals=state.daily,
            allocations=plans,
            run_rate_weeks=run_rate_weeks,
            end_date=project.end_date,
            budget_hours=b.hours if b else None,
            budget_amount=b.amount if b else None,
        )
    )
    milestones = [
        hl.OpenMilestone(code=r.code, name=r.name, due_date=r.due_date)
        for r in (await session.execute(_MILESTONES, {"project_id": project.id})).all()
    ]
    tasks = (await session.execute(_TASKS, {"project_id": project.id})).one()
    health = hl.assess(
        hl.HealthInput(
            as_of=as_of,
            project_status=project.status,
            end_date=project.end_date,
            currency=state.currency,
            budget_hours=b.hours if b else None,
            budget_amount=b.amount if b else None,
            actual_hours=result.actual_hours,
            actual_amount=result.actual_amount,
            eac_hours=result.eac_hours,
            eac_amount=result.eac_amount,
            hours_exhausted_on=result.hours_exhausted_on,
            amount_exhausted_on=result.amount_exhausted_on,
            open_milestones=milestones,
            estimate_done_hours=tasks.done,
            estimate_total_hours=tasks.total,
        )
    )
    c = state.currency

    def money(value: Decimal | None) -> Decimal | None:
        return None if value is None else round_money(value, c)

    def hrs(value: Decimal | None) -> Decimal | None:
        return None if value is None else round_hours(value)

    thresholds = b.thresholds if b else DEFAULT_THRESHOLDS
    return ForecastReport(
        project_id=project.id,
        as_of=as_of,
        currency=c,
        basis=state.basis.value,
        budget_hours=b.hours if b else None,
        budget_amount=money(b.amount) if b else None,
        actual_hours=round_hours(result.actual_hours),
        actual_amount=round_money(result.actual_amount, c),
        run_rate=RunRateView(
            weeks=result.run_rate.weeks,
            weekly_hours=round_hours(result.run_rate.weekly_hours),
            weekly_amount=round_money(result.run_rate.weekly_amount, c),
        ),
        remaining_allocated_hours=round_hours(result.allocated_hours),
        remaining_allocated_amount=round_money(result.allocated_amount, c),
        run_rate_projection_hours=round_hours(result.run_rate_hours),
        run_rate_projection_amount=round_money(result.run_rate_amount, c),
        eac_hours=round_hours(result.eac_hours),
        eac_amount=round_money(result.eac_amount, c),
        vac_hours=hrs(result.vac_hours),
        vac_amount=money(result.vac_amount),
        hours_exhausted_on=result.hours_exhausted_on,
        amount_exhausted_on=result.amount_exhausted_on,
        horizon=result.horizon,
        alerts=threshold_alerts(state.daily, thresholds, b.hours if b else None, b.amount if b else None),
        health=health,
        notes=result.notes,
        warnings=state.warnings + alloc_warnings,
    )
