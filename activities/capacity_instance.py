"""Build the ``scheduling`` instance of a capacity plan from its stored request and the org's data.

From the org: active people (skills, weekly capacity, cost rate, utilization target, country), projects
(code and name), their members (the existing team unless the request names one) and rate-card bill rates
(unless the request gives one). From the request: the horizon, demand per project and week, time off and
project limits per person, pins, rules and weights. There is no FX rates table: people paid in another
currency than the plan's are planned at the median cost rate of those paid in it, and a project without a
bill_rate or a rate card in the plan's currency is planned at bill rate 0 (cost and priority only); the
plan's notes say each assumption (issue 19: neither is a refusal nor a silent omission).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.capacity_store import active_people, project_teams, projects_by_id
from persistence.models import CapacityPlan, Org
from persistence.time_store import resolve_bill_rate
from scheduling import (
    Demand,
    Instance,
    InstanceError,
    Person,
    Pin,
    Project,
    Rules,
    TimeOff,
    Weights,
    validate_instance,
    with_delay,
    with_hire,
    without_project,
)
from workflows.capacity_inputs import HirePerson, PlanRequest, WhatIfRequest


class Built(msgspec.Struct, kw_only=True):
    instance: Instance
    notes: list[str]
    project_ids: list[uuid.UUID]
    """The plan's projects that are projects of the org (what publishing writes for)."""


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def decode_instance(data: Any) -> Instance:
    try:
        instance = msgspec.convert(data, Instance, strict=False)
    except msgspec.ValidationError as exc:
        raise InstanceError([str(exc)]) from exc
    errors = validate_instance(instance)
    if errors:
        raise InstanceError(errors)
    return instance


async def _org_projects(session: AsyncSession, instance: Instance) -> list[uuid.UUID]:
    ids = [u for u in (_as_uuid(p.id) for p in instance.projects) if u is not None]
    found = await projects_by_id(session, ids)
    return [u for u in ids if u in found]


async def build_from_request(session: AsyncSession, plan: CapacityPlan) -> Built:
    request = msgspec.convert(plan.request, PlanRequest, strict=False)
    if request.instance is not None:
        instance = decode_instance(request.instance)
        return Built(instance=instance, notes=[], project_ids=await _org_projects(session, instance))
    assert request.start is not None and request.weeks is not None
    org = (await session.execute(select(Org).where(Org.id == plan.org_id))).scalar_one()
    currency = request.currency or org.default_currency
    errors: list[str] = []
    notes: list[str] = []
    settings = {s.person_id: s for s in request.person_settings}
    people: list[Person] = []
    rows_in_plan = await active_people(session, request.people)
    # No FX rates table exists: someone paid in another currency is planned (not silently left out) at the
    # median cost rate of the people paid in the plan's currency, and the note says so.
    local_rates = sorted(float(r.cost_rate) for r in rows_in_plan if r.cost_currency == currency)
    assumed_rate = local_rates[len(local_rates) // 2] if local_rates else None
    for row in rows_in_plan:
        cost_rate = float(row.cost_rate)
        if row.cost_currency != currency:
            if assumed_rate is None:
                notes.append(
                    f"{row.name} is paid in {row.cost_currency}, not {currency}, and there are no FX rates: "
                    f"planned at their {row.cost_currency} cost rate ({cost_rate:g}/h) as if it were {currency}"
                )
            else:
                cost_rate = assumed_rate
                notes.append(
                    f"{row.name} is paid in {row.cost_currency}, not {currency}, and there are no FX rates: "
                    f"planned at the median {currency} cost rate of the others ({assumed_rate:g}/h)"
                )
        extra = settings.get(row.id)
        people.append(
            Person(
                id=str(row.id),
                name=row.name,
                skills={str(k): int(v) for k, v in row.skills.items()},
                weekly_capacity_hours=float(row.weekly_capacity_hours),
                country=row.country,
                subdivision=extra.subdivision if extra else None,
                time_off=[TimeOff(start=t.start, end=t.end, reason=t.reason) for t in extra.time_off] if extra else [],
                cost_rate=cost_rate,
                utilization_target=float(row.utilization_target),
                max_concurrent_projects=extra.max_concurrent_projects if extra else None,
            )
        )
    included = {p.id for p in people}
    for person_id in settings:
        if str(person_id) not in included:
            notes.append(f"settings for person {person_id} ignored: not an active person of this plan")

    rows = await projects_by_id(session, [p.project_id for p in request.projects])
    teams = await project_teams(session, rows)
    projects: list[Project] = []
    demand: list[Demand] = []
    for index, wanted in enumerate(request.projects):
        project = rows.get(wanted.project_id)
        if project is None:
            errors.append(f"projects/{index}: project {wanted.project_id} not found")
            continue
        bill_rate = wanted.bill_rate
        if bill_rate is None:
            rate = await resolve_bill_rate(
                session, client_id=project.client_id, project_id=project.id, role="", work_date=request.start
            )
            if rate is None or rate[1] != currency:
                # Not a refusal: plan it on cost and priority alone (bill rate 0) and say so.
                found = "no rate card" if rate is None else f"a {rate[1]} rate card and no FX rates"
                notes.append(
                    f"project {project.code} {project.name}: no bill_rate given and {found} in {currency}: "
                    "planned at bill rate 0 (cost and priority only); give a bill_rate to value its hours"
                )
                bill_rate = Decimal(0)
            else:
                bill_rate = rate[0]
        team = wanted.existing_team if wanted.existing_team is not None else teams.get(project.id, [])
        existing = [str(p) for p in team if str(p) in included]
        if wanted.existing_team is not None and len(existing) < len(team):
            notes.append(f"project {project.code}: existing team members outside this plan ignored")
        projects.append(
            Project(
                id=str(project.id),
                name=f"{project.code} {project.name}",
                priority=wanted.priority,
                bill_rate=float(bill_rate),
                tentative=wanted.tentative,
                probability=float(wanted.probability) if wanted.tentative else 1.0,
                existing_team=existing,
            )
        )
        for k, line in enumerate(wanted.demand):
            last = line.week if line.until_week is None else line.until_week
            for week in range(line.week, last + 1):
                demand.append(
                    Demand(
                        id=f"{project.code}#{k + 1}@w{week}",
                        project_id=str(project.id),
                        week=week,
                        hours=float(line.hours),
                        role=line.role or line.skill or "named",
                        skill=line.skill,
                        min_level=line.min_level,
                        person_id=str(line.person_id) if line.person_id else None,
                        required=line.required,
                        value_per_hour=float(line.value_per_hour) if line.value_per_hour is not None else None,
                    )
                )
    pins = [
        Pin(person_id=str(p.person_id), project_id=str(p.project_id), kind=p.kind, weeks=p.weeks) for p in request.pins
    ]
    weights = request.weights
    defaults = Weights()
    instance = Instance(
        name=request.name or f"plan {plan.id}",
        start=request.start,
        weeks=request.weeks,
        people=people,
        projects=projects,
        demand=demand,
        pins=pins,
        rules=Rules(
            block_hours=float(request.rules.block_hours),
            min_hours=float(request.rules.min_hours),
            max_projects_per_week=request.rules.max_projects_per_week,
            working_days=request.rules.working_days,
        ),
        weights=Weights(
            revenue=float(weights.revenue),
            cost=float(weights.cost),
            churn_per_change=float(weights.churn_per_change),
            under_utilization_per_hour=float(weights.under_utilization_per_hour),
            over_utilization_per_hour=float(weights.over_utilization_per_hour),
            priority_multipliers=(
                {k: float(v) for k, v in weights.priority_multipliers.items()}
                if weights.priority_multipliers is not None
                else defaults.priority_multipliers
            ),
        ),
    )
    errors += validate_instance(instance)
    if errors:
        raise InstanceError(errors)
    return Built(instance=instance, notes=notes, project_ids=[uuid.UUID(p.id) for p in projects])


def _hire(instance: Instance, person: HirePerson) -> Person:
    taken = {p.id for p in instance.people}
    n = 1
    while f"hire-{n}" in taken:
        n += 1
    return Person(
        id=f"hire-{n}",
        name=person.name,
        skills=dict(person.skills),
        weekly_capacity_hours=float(person.weekly_capacity_hours),
        country=person.country,
        cost_rate=float(person.cost_rate),
        utilization_target=float(person.utilization_target),
        max_concurrent_projects=person.max_concurrent_projects,
    )


async def build_what_if(session: AsyncSession, plan: CapacityPlan, base: CapacityPlan) -> Built:
    """The base plan's instance with the scenario applied."""
    assert plan.scenario is not None and base.instance is not None
    scenario = msgspec.convert(plan.scenario, WhatIfRequest, strict=False)
    instance = decode_instance(base.instance)
    notes: list[str] = []
    try:
        if scenario.kind == "hire":
            assert scenario.person is not None
            hire = _hire(instance, scenario.person)
            instance = with_hire(instance, hire)
            notes.append(f"hypothetical hire {hire.id} ({hire.name}); a plan staffing them cannot be published")
        elif scenario.kind == "delay":
            assert scenario.project_id is not None and scenario.weeks is not None
            instance, moved = with_delay(instance, str(scenario.project_id), scenario.weeks)
            notes += moved
        else:
            assert scenario.project_id is not None
            instance = without_project(instance, str(scenario.project_id))
    except ValueError as exc:
        raise InstanceError([str(exc)]) from exc
    errors = validate_instance(instance)
    if errors:
        raise InstanceError(errors)
    return Built(instance=instance, notes=notes, project_ids=await _org_projects(session, instance))
