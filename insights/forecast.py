"""Estimate at completion and the date the budget runs out.

Inputs, as of a date ``D`` (everything on or before ``D`` is actual, everything after is projected):

* actuals per day (hours and money on the budget's basis);
* remaining published allocations per ISO week (hours and money). For the week containing ``D`` the
  caller passes what is left of the plan: per person ``max(0, allocated − logged so far that week)``;
* the run rate: the average weekly burn over the ``n`` complete ISO weeks before ``D``'s week.

Projection, day by day after ``D`` on working days (Monday to Friday):

* a week that has published allocations for the project burns its allocation, spread evenly over its
  working days (for ``D``'s own week: over the working days left after ``D``; with none left, the
  remainder is dropped — it did not happen);
* a week without allocations burns the run rate, ``run_rate / 5`` per working day.

``EAC = actual + projected burn up to the horizon``; the horizon is the project's end date, or (without
an end date) the last week with allocations (no run-rate extrapolation into an open-ended future).
``VAC = budget − EAC``. The exhaustion date is the first date on which cumulative actual (if the budget is
already used up) or actual + projected burn reaches the budget, searched up to the end date or, without
one, ``horizon_weeks`` weeks after ``D``; None means the budget is not used up within that window.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import msgspec

from insights.burn import DayBurn, crossing_date
from insights.calendar import WORKING_DAYS_PER_WEEK, is_working_day, week_start
from insights.money import ZERO

FIVE = Decimal(WORKING_DAYS_PER_WEEK)


class WeekPlan(msgspec.Struct, frozen=True):
    """Remaining published allocation of one ISO week (``week_start`` is its Monday)."""

    week_start: date
    hours: Decimal
    amount: Decimal


class RunRate(msgspec.Struct, frozen=True):
    weeks: int
    weekly_hours: Decimal
    weekly_amount: Decimal


class ForecastInput(msgspec.Struct, kw_only=True):
    as_of: date
    daily_actuals: list[DayBurn]
    allocations: list[WeekPlan]
    run_rate_weeks: int = 4
    end_date: date | None = None
    budget_hours: Decimal | None = None
    budget_amount: Decimal | None = None
    horizon_weeks: int = 104


class Forecast(msgspec.Struct, kw_only=True):
    """Exact figures (the caller rounds for display)."""

    as_of: date
    horizon: date | None
    actual_hours: Decimal
    actual_amount: Decimal
    run_rate: RunRate
    allocated_hours: Decimal
    allocated_amount: Decimal
    run_rate_hours: Decimal
    run_rate_amount: Decimal
    eac_hours: Decimal
    eac_amount: Decimal
    vac_hours: Decimal | None
    vac_amount: Decimal | None
    hours_exhausted_on: date | None
    amount_exhausted_on: date | None
    notes: list[str]


def run_rate(daily: list[DayBurn], as_of: date, weeks: int) -> RunRate:
    """Average weekly burn over the ``weeks`` complete ISO weeks before ``as_of``'s week."""
    if weeks <= 0:
        return RunRate(weeks=0, weekly_hours=ZERO, weekly_amount=ZERO)
    end = week_start(as_of)
    start = end - timedelta(weeks=weeks)
    window = [d for d in daily if start <= d.day < end]
    n = Decimal(weeks)
    return RunRate(
        weeks=weeks,
        weekly_hours=sum((d.hours for d in window), ZERO) / n,
        weekly_amount=sum((d.amount for d in window), ZERO) / n,
    )


class _Projected(msgspec.Struct, frozen=True):
    day: date
    hours: Decimal
    amount: Decimal
    from_allocation: bool


def _projection(as_of: date, until: date, plans: dict[date, WeekPlan], rate: RunRate) -> list[_Projected]:
    """Projected burn per working day in ``(as_of, until]``."""
    out: list[_Projected] = []
    week = week_start(as_of)
    while week <= until:
        working = [week + timedelta(days=i) for i in range(7) if is_working_day(week + timedelta(days=i))]
        remaining = [d for d in working if d > as_of]
        plan = plans.get(week)
        if plan is not None:
            share = Decimal(len(remaining)) if week == week_start(as_of) else FIVE
            per_hours = plan.hours / share if remaining else ZERO
            per_amount = plan.amount / share if remaining else ZERO
        else:
            per_hours, per_amount = rate.weekly_hours / FIVE, rate.weekly_amount / FIVE
        out.extend(_Projected(d, per_hours, per_amount, plan is not None) for d in remaining if d <= until)
        week += timedelta(weeks=1)
    return out


def forecast(data: ForecastInput) -> Forecast:
    daily = sorted((d for d in data.daily_actuals if d.day <= data.as_of), key=lambda d: d.day)
    actual_hours = sum((d.hours for d in daily), ZERO)
    actual_amount = sum((d.amount for d in daily), ZERO)
    rate = run_rate(daily, data.as_of, data.run_rate_weeks)
    plans: dict[date, WeekPlan] = {}
    for plan in data.allocations:
        if plan.week_start >= week_start(data.as_of):
            merged = plans.get(plan.week_start)
            plans[plan.week_start] = (
                plan
                if merged is None
                else WeekPlan(plan.week_start, merged.hours + plan.hours, merged.amount + plan.amount)
            )
    notes: list[str] = []
    if data.end_date is not None:
        horizon: date | None = data.end_date
        if data.end_date <= data.as_of:
            notes.append("the project's end date has passed: nothing more is projected")
    elif plans:
        horizon = max(plans) + timedelta(days=6)
        notes.append("no end date: projected to the last published allocation, without run-rate extrapolation")
    else:
        horizon = None
        notes.append("no end date and no published allocations: estimate at completion equals actuals")
    projected = _projection(data.as_of, horizon, plans, rate) if horizon is not None else []
    # Beyond the horizon without an end date, only allocations count (no open-ended run rate).
    if data.end_date is None:
        projected = [p for p in projected if p.from_allocation]
    allocated_hours = sum((p.hours for p in projected if p.from_allocation), ZERO)
    allocated_amount = sum((p.amount for p in projected if p.from_allocation), ZERO)
    rr_hours = sum((p.hours for p in projected if not p.from_allocation), ZERO)
    rr_amount = sum((p.amount for p in projected if not p.from_allocation), ZERO)
    eac_hours = actual_hours + allocated_hours + rr_hours
    eac_amount = actual_amount + allocated_amount + rr_amount

    search_until = data.end_date or (data.as_of + timedelta(weeks=data.horizon_weeks))
    path = daily + [DayBurn(p.day, p.hours, p.amount) for p in _projection(data.as_of, search_until, plans, rate)]

    def exhausted(budget: Decimal | None, *, money: bool) -> date | None:
        if budget is None:
            return None
        return crossing_date(path, budget, money=money)

    return Forecast(
        as_of=data.as_of,
        horizon=horizon,
        actual_hours=actual_hours,
        actual_amount=actual_amount,
        run_rate=rate,
        allocated_hours=allocated_hours,
        allocated_amount=allocated_amount,
        run_rate_hours=rr_hours,
        run_rate_amount=rr_amount,
        eac_hours=eac_hours,
        eac_amount=eac_amount,
        vac_hours=None if data.budget_hours is None else data.budget_hours - eac_hours,
        vac_amount=None if data.budget_amount is None else data.budget_amount - eac_amount,
        hours_exhausted_on=exhausted(data.budget_hours, money=False),
        amount_exhausted_on=exhausted(data.budget_amount, money=True),
        notes=notes,
    )
