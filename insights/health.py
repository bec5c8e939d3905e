"""Project health: on track, at risk or off track — always with the reasons that made it so.

Rules (each yields a reason; the status is the worst severity among them, ``on_track`` when none):

==========================  ==========  ==============================================================
code                        severity    when
==========================  ==========  ==============================================================
budget_exceeded             off_track   actual hours or money is above its budget
forecast_over_budget        off_track   EAC is more than ``over_budget_tolerance`` (10 %) above budget
forecast_over_budget        at_risk     EAC is above budget, within the tolerance
budget_nearly_used          at_risk     actual ≥ ``nearly_used`` (90 %) of a budget (not yet exceeded)
past_end_date               off_track   the end date has passed and the project is still open
milestone_overdue           off_track   a milestone is unaccepted more than ``milestone_grace_days``
                                        (14) after its due date
milestone_overdue           at_risk     a milestone is unaccepted after its due date, within the grace
burn_ahead_of_progress      at_risk     budget consumed % − task progress % > ``burn_ahead_points`` (20);
                                        progress = estimate of done tasks / estimate of all open or done
                                        tasks (cancelled ones excluded)
no_budget                   info        no hours or money budget: burn cannot be judged
==========================  ==========  ==============================================================
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec

from insights.money import HUNDRED, ZERO, percent, round_hours, round_money

SEVERITY_ORDER = {"info": 0, "at_risk": 1, "off_track": 2}
CLOSED_STATUSES = frozenset({"completed", "cancelled"})


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    over_budget_tolerance: Decimal = Decimal("0.10")
    nearly_used: Decimal = Decimal("0.90")
    milestone_grace_days: int = 14
    burn_ahead_points: Decimal = Decimal(20)


class OpenMilestone(msgspec.Struct, frozen=True):
    code: str
    name: str
    due_date: date


class HealthInput(msgspec.Struct, kw_only=True):
    as_of: date
    project_status: str
    end_date: date | None
    currency: str
    budget_hours: Decimal | None
    budget_amount: Decimal | None
    actual_hours: Decimal
    actual_amount: Decimal
    eac_hours: Decimal
    eac_amount: Decimal
    hours_exhausted_on: date | None = None
    amount_exhausted_on: date | None = None
    open_milestones: list[OpenMilestone] = []
    estimate_done_hours: Decimal = ZERO
    estimate_total_hours: Decimal = ZERO


class Reason(msgspec.Struct, frozen=True):
    code: str
    severity: str
    message: str


class Health(msgspec.Struct, frozen=True):
    status: str
    reasons: list[Reason]


def _hours(value: Decimal) -> str:
    return f"{round_hours(value)}"


def assess(data: HealthInput, limits: Thresholds | None = None) -> Health:
    limits = limits or Thresholds()
    reasons: list[Reason] = []

    def money(value: Decimal) -> str:
        return f"{round_money(value, data.currency)}"

    c = data.currency
    budgets = (
        ("hours", data.budget_hours, data.actual_hours, data.eac_hours, data.hours_exhausted_on, "h", _hours),
        ("money", data.budget_amount, data.actual_amount, data.eac_amount, data.amount_exhausted_on, c, money),
    )
    for label, budget, actual, eac, exhausted_on, unit, _fmt in budgets:
        if budget is None:
            continue
        if actual > budget:
            reasons.append(
                Reason("budget_exceeded", "off_track", f"{label}: {_fmt(actual)} {unit} used of {_fmt(budget)} {unit}")
            )
            continue
        if eac > budget:
            over = percent(eac - budget, budget)
            severity = "off_track" if eac > budget * (1 + limits.over_budget_tolerance) else "at_risk"
            when = f"; runs out on {exhausted_on.isoformat()}" if exhausted_on else ""
            reasons.append(
                Reason(
                    "forecast_over_budget",
                    severity,
                    f"{label}: estimate at completion {_fmt(eac)} {unit} is "
                    f"{over if over is not None else 'infinitely'} % over the budget of {_fmt(budget)} {unit}{when}",
                )
            )
        if budget > ZERO and actual >= budget * limits.nearly_used:
            reasons.append(
                Reason(
                    "budget_nearly_used",
                    "at_risk",
                    f"{label}: {percent(actual, budget)} % of the budget used "
                    f"({_fmt(actual)} of {_fmt(budget)} {unit})",
                )
            )
    if data.budget_hours is None and data.budget_amount is None:
        reasons.append(Reason("no_budget", "info", "no budget is set: burn cannot be judged"))
    if data.end_date is not None and data.end_date < data.as_of and data.project_status not in CLOSED_STATUSES:
        late = (data.as_of - data.end_date).days
        reasons.append(
            Reason("past_end_date", "off_track", f"the end date {data.end_date.isoformat()} passed {late} days ago")
        )
    for milestone in sorted(data.open_milestones, key=lambda m: (m.due_date, m.code)):
        if milestone.due_date >= data.as_of:
            continue
        late = (data.as_of - milestone.due_date).days
        severity = "off_track" if late > limits.milestone_grace_days else "at_risk"
        reasons.append(
            Reason(
                "milestone_overdue",
                severity,
                f"milestone {milestone.code} ({milestone.name}) was due {milestone.due_date.isoformat()}, "
                f"{late} days ago, and is not accepted",
            )
        )
    if data.estimate_total_hours > ZERO:
        progress = data.estimate_done_hours * HUNDRED / data.estimate_total_hours
        consumed: Decimal | None = None
        if data.budget_hours:
            consumed = data.actual_hours * HUNDRED / data.budget_hours
        elif data.budget_amount:
            consumed = data.actual_amount * HUNDRED / data.budget_amount
        if consumed is not None and consumed - progress > limits.burn_ahead_points:
            reasons.append(
                Reason(
                    "burn_ahead_of_progress",
                    "at_risk",
                    f"{round_hours(consumed)} % of the budget is used but tasks are only "
                    f"{round_hours(progress)} % done (by estimate)",
                )
            )
    worst = max((SEVERITY_ORDER[r.severity] for r in reasons), default=0)
    status = {0: "on_track", 1: "at_risk", 2: "off_track"}[worst]
    return Health(status=status, reasons=reasons)
