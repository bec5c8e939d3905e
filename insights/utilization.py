"""Utilization against targets, per person and per team (a team is the people sharing a job role).

For a period ``[start, end]``:

* ``capacity_hours = weekly_capacity_hours × working_days(start, end) / 5`` (Monday to Friday; holidays
  and leave are not known here)
* ``utilization_pct = billable_hours / capacity_hours × 100``; ``total_pct = logged hours / capacity``
* ``target_pct`` = the person's ``utilization_target`` × 100; ``variance_pts = utilization − target``
* a team sums billable hours and capacity; its target is the capacity-weighted mean of its members'.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec

from insights.calendar import WORKING_DAYS_PER_WEEK, working_days
from insights.money import HUNDRED, ZERO, hours_of, percent, round_hours


class PersonTime(msgspec.Struct, kw_only=True):
    person_id: uuid.UUID
    name: str
    team: str
    weekly_capacity_hours: Decimal
    utilization_target: Decimal
    billable_minutes: Decimal = ZERO
    minutes: Decimal = ZERO


class UtilizationRow(msgspec.Struct, kw_only=True):
    team: str
    person_id: uuid.UUID | None = None
    name: str | None = None
    people: int = 1
    capacity_hours: Decimal
    billable_hours: Decimal
    total_hours: Decimal
    utilization_pct: Decimal | None
    total_pct: Decimal | None
    target_pct: Decimal
    variance_pts: Decimal | None


def capacity_hours(weekly: Decimal, start: date, end: date) -> Decimal:
    return weekly * working_days(start, end) / WORKING_DAYS_PER_WEEK


def _row(
    team: str,
    capacity: Decimal,
    billable_minutes: Decimal,
    minutes: Decimal,
    target: Decimal,
    **who: object,
) -> UtilizationRow:
    utilization = percent(hours_of(billable_minutes), capacity)
    target_pct = round_hours(target * HUNDRED)
    return UtilizationRow(
        team=team,
        capacity_hours=round_hours(capacity),
        billable_hours=round_hours(hours_of(billable_minutes)),
        total_hours=round_hours(hours_of(minutes)),
        utilization_pct=utilization,
        total_pct=percent(hours_of(minutes), capacity),
        target_pct=target_pct,
        variance_pts=None if utilization is None else utilization - target_pct,
        **who,  # type: ignore[arg-type]
    )


def per_person(people: list[PersonTime], start: date, end: date) -> list[UtilizationRow]:
    rows = [
        _row(
            p.team,
            capacity_hours(p.weekly_capacity_hours, start, end),
            p.billable_minutes,
            p.minutes,
            p.utilization_target,
            person_id=p.person_id,
            name=p.name,
        )
        for p in people
    ]
    return sorted(rows, key=lambda r: (r.team, r.name or ""))


def per_team(people: list[PersonTime], start: date, end: date) -> list[UtilizationRow]:
    teams: dict[str, list[PersonTime]] = {}
    for p in people:
        teams.setdefault(p.team, []).append(p)
    rows = []
    for team, members in sorted(teams.items()):
        capacities = [capacity_hours(m.weekly_capacity_hours, start, end) for m in members]
        capacity = sum(capacities, ZERO)
        if capacity > ZERO:
            target = sum((c * m.utilization_target for c, m in zip(capacities, members, strict=True)), ZERO) / capacity
        else:
            target = sum((m.utilization_target for m in members), ZERO) / len(members)
        rows.append(
            _row(
                team,
                capacity,
                sum((m.billable_minutes for m in members), ZERO),
                sum((m.minutes for m in members), ZERO),
                target,
                people=len(members),
            )
        )
    return rows
