"""Capacity planning reads and the publication of a plan's allocations.

The reads give the facts a plan is built from (active people, projects, teams, rate-card bill rates). The
publication copies a solved plan's hours per (person, project, week) into ``capacity_allocations``, which
project forecasts read, replacing what earlier publications wrote for the same projects and weeks.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import msgspec
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from persistence.models import CapacityAllocation, CapacityPlan, Person, Project, ProjectMember

_LOCK_PUBLISH = text("SELECT pg_advisory_xact_lock(hashtextextended('capacity.publish:' || :org_id, 0))")


async def active_people(session: AsyncSession, only: Sequence[uuid.UUID] | None = None) -> list[Person]:
    """The org's active people (only ``only`` when given), in a stable order."""
    query = select(Person).where(Person.status == "active")
    if only is not None:
        query = query.where(Person.id.in_(list(only)))
    return list((await session.execute(query.order_by(Person.id))).scalars())


async def people_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Person]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(Person).where(Person.id.in_(wanted)))).scalars()
    return {row.id: row for row in rows}


async def projects_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Project]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(Project).where(Project.id.in_(wanted)))).scalars()
    return {row.id: row for row in rows}


async def project_teams(session: AsyncSession, project_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Project -> its members who do the work (managers excluded)."""
    wanted = list(set(project_ids))
    teams: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not wanted:
        return teams
    rows = await session.execute(
        select(ProjectMember.project_id, ProjectMember.person_id)
        .where(ProjectMember.project_id.in_(wanted), ProjectMember.role != "manager")
        .order_by(ProjectMember.project_id, ProjectMember.person_id)
    )
    for project_id, person_id in rows:
        teams[project_id].append(person_id)
    return teams


class PublishedAllocation(msgspec.Struct, frozen=True, kw_only=True):
    person_id: uuid.UUID
    project_id: uuid.UUID
    week_start: date
    hours: Decimal


class Publication(msgspec.Struct, kw_only=True):
    plan_id: uuid.UUID
    published_at: datetime
    allocations: int
    hours: Decimal
    replaced: int
    """Earlier published rows removed for the same projects and weeks."""
    first_week: date
    last_week: date
    project_ids: list[uuid.UUID]
    already_published: bool = False


class StalePlan(Exception):
    """A plan created after this one was published over (some of) the same projects and weeks."""

    def __init__(self, newer: CapacityPlan) -> None:
        super().__init__(
            f"capacity plan {newer.id} (created {newer.created_at.isoformat()}) was published at "
            f"{newer.published_at.isoformat() if newer.published_at else '?'} over the same projects and weeks"
        )
        self.newer = newer


def aggregate(allocations: Iterable[tuple[uuid.UUID, uuid.UUID, int, float]], start: date) -> list[PublishedAllocation]:
    """(person, project, week index, hours) lines -> one row per (person, project, week)."""
    hours: dict[tuple[uuid.UUID, uuid.UUID, int], Decimal] = defaultdict(Decimal)
    for person_id, project_id, week, h in allocations:
        hours[(person_id, project_id, week)] += Decimal(str(h))
    return [
        PublishedAllocation(
            person_id=person_id,
            project_id=project_id,
            week_start=start + timedelta(days=7 * week),
            hours=total.quantize(Decimal("0.01")),
        )
        for (person_id, project_id, week), total in sorted(hours.items(), key=lambda kv: (kv[0][2], str(kv[0])))
        if total > 0
    ]


async def newer_publication(session: AsyncSession, plan: CapacityPlan) -> CapacityPlan | None:
    """A plan created after ``plan`` and published over some of its projects and weeks, if any."""
    if plan.start_date is None or plan.weeks is None or not plan.project_ids:
        return None
    end = plan.start_date + timedelta(days=7 * plan.weeks)
    other_end = CapacityPlan.start_date + func.make_interval(0, 0, CapacityPlan.weeks)
    query = (
        select(CapacityPlan)
        .where(
            CapacityPlan.id != plan.id,
            CapacityPlan.published_at.is_not(None),
            (CapacityPlan.created_at > plan.created_at)
            | ((CapacityPlan.created_at == plan.created_at) & (CapacityPlan.id > plan.id)),
            CapacityPlan.project_ids.overlap(list(plan.project_ids)),
            CapacityPlan.start_date < end,
            other_end > plan.start_date,
        )
        .order_by(CapacityPlan.published_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def publish(
    session: AsyncSession,
    plan: CapacityPlan,
    rows: list[PublishedAllocation],
    *,
    published_by: str,
) -> Publication:
    """Replace the published allocations of the plan's projects and weeks with ``rows``, in the caller's
    transaction. Idempotent: a plan already published (and not superseded) is left as it is. Raises
    ``StalePlan`` when a plan created later was published over the same projects and weeks."""
    assert plan.start_date is not None and plan.weeks is not None
    await session.execute(_LOCK_PUBLISH, {"org_id": str(plan.org_id)})
    await session.refresh(plan, with_for_update=True)
    newer = await newer_publication(session, plan)
    if newer is not None:
        raise StalePlan(newer)
    first_week = plan.start_date
    last_week = plan.start_date + timedelta(days=7 * (plan.weeks - 1))
    total = sum((r.hours for r in rows), Decimal(0))
    if plan.published_at is not None:
        return Publication(
            plan_id=plan.id,
            published_at=plan.published_at,
            allocations=len(rows),
            hours=total,
            replaced=0,
            first_week=first_week,
            last_week=last_week,
            project_ids=list(plan.project_ids),
            already_published=True,
        )
    removed = await session.execute(
        delete(CapacityAllocation).where(
            CapacityAllocation.project_id.in_(list(plan.project_ids)),
            CapacityAllocation.week_start >= first_week,
            CapacityAllocation.week_start <= last_week,
        )
    )
    now = (await session.execute(select(func.now()))).scalar_one()
    if rows:
        await session.execute(
            insert(CapacityAllocation),
            [
                {
                    "id": new_id(),
                    "org_id": plan.org_id,
                    "plan_id": plan.id,
                    "person_id": r.person_id,
                    "project_id": r.project_id,
                    "week_start": r.week_start,
                    "hours": r.hours,
                    "published_at": now,
                }
                for r in rows
            ],
        )
    plan.published_at = now
    plan.published_by = published_by
    await session.flush()
    return Publication(
        plan_id=plan.id,
        published_at=now,
        allocations=len(rows),
        hours=total,
        replaced=int(removed.rowcount),  # type: ignore[attr-defined]
        first_week=first_week,
        last_week=last_week,
        project_ids=list(plan.project_ids),
    )
