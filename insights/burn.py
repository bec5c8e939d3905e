"""Burn: how much of a budget the work so far has used, in hours and in money, and when thresholds fell.

Money burn depends on the budget's basis:

* ``bill``: time at bill rate (billable entries only) + re-billed expenses (approved, billable, with markup)
  — what the client is charged against the budget;
* ``cost``: time at cost rate (every entry) + every expense that is not rejected — what the agency spends.

Hours burn is every logged hour (billable or not): hours budgets cap effort, not invoices.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

import msgspec

from insights.money import ZERO, hours_of, percent, round_hours, round_money


class Basis(StrEnum):
    BILL = "bill"
    COST = "cost"


class Actuals(msgspec.Struct, kw_only=True):
    """Exact (unrounded) sums for one project or phase, in the budget currency."""

    minutes: Decimal = ZERO
    billable_minutes: Decimal = ZERO
    approved_minutes: Decimal = ZERO
    unpriced_billable_minutes: Decimal = ZERO
    time_cost: Decimal = ZERO
    time_value: Decimal = ZERO
    expense_cost: Decimal = ZERO
    expense_rebill: Decimal = ZERO

    def hours(self) -> Decimal:
        return hours_of(self.minutes)

    def amount(self, basis: Basis) -> Decimal:
        if basis is Basis.BILL:
            return self.time_value + self.expense_rebill
        return self.time_cost + self.expense_cost

    def plus(self, other: Actuals) -> Actuals:
        return Actuals(
            **{
                f: getattr(self, f) + getattr(other, f)
                for f in (
                    "minutes",
                    "billable_minutes",
                    "approved_minutes",
                    "unpriced_billable_minutes",
                    "time_cost",
                    "time_value",
                    "expense_cost",
                    "expense_rebill",
                )
            }
        )


class DayBurn(msgspec.Struct, frozen=True):
    """What one date added: hours and money (on the budget's basis)."""

    day: date
    hours: Decimal
    amount: Decimal


class ThresholdAlert(msgspec.Struct, frozen=True):
    metric: str
    threshold_pct: Decimal
    consumed_pct: Decimal
    crossed_on: date


class BurnFigures(msgspec.Struct, kw_only=True):
    """Rounded figures for the API: hours to 0.01, money to the minor unit, percentages to 0.01."""

    hours: Decimal
    billable_hours: Decimal
    non_billable_hours: Decimal
    approved_hours: Decimal
    unapproved_hours: Decimal
    cost: Decimal
    value: Decimal
    expenses_cost: Decimal
    expenses_rebill: Decimal
    amount: Decimal
    budget_hours: Decimal | None
    budget_amount: Decimal | None
    remaining_hours: Decimal | None
    remaining_amount: Decimal | None
    hours_consumed_pct: Decimal | None
    amount_consumed_pct: Decimal | None
    unpriced_billable_hours: Decimal


def burn_figures(
    actuals: Actuals, basis: Basis, currency: str, budget_hours: Decimal | None, budget_amount: Decimal | None
) -> BurnFigures:
    hours = actuals.hours()
    amount = actuals.amount(basis)
    return BurnFigures(
        hours=round_hours(hours),
        billable_hours=round_hours(hours_of(actuals.billable_minutes)),
        non_billable_hours=round_hours(hours_of(actuals.minutes - actuals.billable_minutes)),
        approved_hours=round_hours(hours_of(actuals.approved_minutes)),
        unapproved_hours=round_hours(hours_of(actuals.minutes - actuals.approved_minutes)),
        cost=round_money(actuals.time_cost, currency),
        value=round_money(actuals.time_value, currency),
        expenses_cost=round_money(actuals.expense_cost, currency),
        expenses_rebill=round_money(actuals.expense_rebill, currency),
        amount=round_money(amount, currency),
        budget_hours=budget_hours,
        budget_amount=None if budget_amount is None else round_money(budget_amount, currency),
        remaining_hours=None if budget_hours is None else round_hours(budget_hours - hours),
        remaining_amount=None if budget_amount is None else round_money(budget_amount - amount, currency),
        hours_consumed_pct=None if budget_hours is None else percent(hours, budget_hours),
        amount_consumed_pct=None if budget_amount is None else percent(amount, budget_amount),
        unpriced_billable_hours=round_hours(hours_of(actuals.unpriced_billable_minutes)),
    )


def crossing_date(daily: list[DayBurn], target: Decimal, *, money: bool) -> date | None:
    """The first date on which the cumulative burn reached ``target`` (dates ascending)."""
    total = ZERO
    for day in daily:
        total += day.amount if money else day.hours
        if total >= target:
            return day.day
    return None


def threshold_alerts(
    daily: list[DayBurn],
    thresholds: list[Decimal],
    budget_hours: Decimal | None,
    budget_amount: Decimal | None,
) -> list[ThresholdAlert]:
    """One alert per (metric, threshold) already crossed, with the date it was crossed.

    A threshold ``t`` (a fraction, e.g. 0.8) is crossed on the first date the cumulative burn is at least
    ``t × budget``. A zero budget is crossed on the first day anything was logged.
    """
    daily = sorted(daily, key=lambda d: d.day)
    total_hours = sum((d.hours for d in daily), ZERO)
    total_amount = sum((d.amount for d in daily), ZERO)
    alerts: list[ThresholdAlert] = []
    for metric, budget, total, money in (
        ("hours", budget_hours, total_hours, False),
        ("amount", budget_amount, total_amount, True),
    ):
        if budget is None:
            continue
        consumed = percent(total, budget)
        for threshold in sorted(thresholds):
            target = threshold * budget
            if total <= ZERO or total < target:
                continue
            crossed = crossing_date(daily, target, money=money)
            if crossed is not None:
                alerts.append(
                    ThresholdAlert(
                        metric=metric,
                        threshold_pct=percent(threshold, Decimal(1)) or ZERO,
                        consumed_pct=consumed if consumed is not None else Decimal(100),
                        crossed_on=crossed,
                    )
                )
    return alerts
