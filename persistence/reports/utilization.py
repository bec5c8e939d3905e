"""Utilization of people and teams for a period: one aggregate query, then ``insights.utilization``."""

from __future__ import annotations

from datetime import date

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from insights import utilization
from insights.calendar import working_days

_SQL = """
SELECT pe.id, pe.name, pe.role, pe.weekly_capacity_hours, pe.utilization_target,
       coalesce(sum(e.minutes) FILTER (WHERE e.billable), 0) AS billable_minutes,
       coalesce(sum(e.minutes), 0) AS minutes
FROM people pe
LEFT JOIN time_entries e ON e.person_id = pe.id AND e.work_date >= :start AND e.work_date <= :end
GROUP BY pe.id
HAVING bool_or(pe.status = 'active') OR count(e.id) > 0
"""


class UtilizationReport(msgspec.Struct, kw_only=True):
    start: date
    end: date
    group_by: str
    working_days: int
    rows: list[utilization.UtilizationRow]


async def utilization_report(
    session: AsyncSession, start: date, end: date, *, group_by: str = "person"
) -> UtilizationReport:
    people = [
        utilization.PersonTime(
            person_id=r.id,
            name=r.name,
            team=r.role,
            weekly_capacity_hours=r.weekly_capacity_hours,
            utilization_target=r.utilization_target,
            billable_minutes=r.billable_minutes,
            minutes=r.minutes,
        )
        for r in (await session.execute(text(_SQL), {"start": start, "end": end})).all()
    ]
    rows = (
        utilization.per_team(people, start, end) if group_by == "team" else utilization.per_person(people, start, end)
    )
    return UtilizationReport(start=start, end=end, group_by=group_by, working_days=working_days(start, end), rows=rows)
