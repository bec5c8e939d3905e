"""Helpers for the capacity-planning tests: tiny instances and an independent brute force."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from scheduling import (
    Allocation,
    Demand,
    Instance,
    ObjectiveBreakdown,
    Person,
    Pin,
    Plan,
    Project,
    Rules,
    SolveStats,
    Weights,
    check_plan,
)
from scheduling.assemble import assemble
from scheduling.plan import PinConflict
from scheduling.prepared import Assignment, Prepared

MONDAY = date(2025, 3, 3)

NO_STATS = SolveStats(
    greedy_objective=0,
    greedy_seconds=0,
    first_plan_seconds=None,
    wall_seconds=0,
    model_solutions=0,
    decomposed=False,
    windows=0,
    variables=0,
    bound_source="",
)
"""Statistics of a plan that no solve produced (assembled directly from an internal assignment)."""

# Rule names the checker reports for broken constraints (as opposed to reporting mismatches).
CONSTRAINT_RULES = {
    "unknown_reference",
    "duplicate",
    "skill_fit",
    "block",
    "min_hours",
    "capacity",
    "overstaffed",
    "max_projects",
    "must_not_pin",
    "must_pin",
}


def person(pid: str, skills: dict[str, int] | None = None, **kw: object) -> Person:
    return Person(id=pid, name=pid, skills=skills or {}, **kw)  # type: ignore[arg-type]


def project(pid: str, **kw: object) -> Project:
    return Project(id=pid, name=pid, **kw)  # type: ignore[arg-type]


def line(
    lid: str, proj: str, week: int, hours: float, skill: str | None = None, level: int = 1, who: str | None = None
) -> Demand:
    return Demand(
        id=lid,
        project_id=proj,
        week=week,
        hours=hours,
        skill=skill,
        min_level=level,
        person_id=who,
        role=skill or "named",
    )


def make(
    people: list[Person],
    projects: list[Project],
    demand: list[Demand],
    *,
    weeks: int = 2,
    pins: list[Pin] | None = None,
    rules: Rules | None = None,
    weights: Weights | None = None,
    start: date = MONDAY,
) -> Instance:
    return Instance(
        start=start,
        weeks=weeks,
        people=people,
        projects=projects,
        demand=demand,
        pins=pins or [],
        rules=rules or Rules(),
        weights=weights or Weights(),
    )


def bare_plan(allocations: list[Allocation]) -> Plan:
    """A plan holding only allocations (for the checker-based brute force)."""
    zero = ObjectiveBreakdown(
        revenue=0,
        cost=0,
        churn=0,
        utilization=0,
        objective=0,
        staffed_hours=0,
        churn_events=0,
        under_hours=0,
        over_hours=0,
    )
    return Plan(
        status="feasible",
        stop_reason="completed",
        objective=0,
        bound=0,
        gap=0,
        breakdown=zero,
        allocations=allocations,
        utilization=[],
        unmet=[],
        pin_conflicts=[],
        stats=NO_STATS,
    )


def brute_force(instance: Instance) -> tuple[float, list[Allocation]]:
    """Best objective over every allocation of whole blocks to skill-fitting people, judged by the
    independent checker (feasibility and objective). Only for tiny instances."""
    block = instance.rules.block_hours
    pairs: list[tuple[str, Demand]] = []
    for d in instance.demand:
        for p in instance.people:
            fits = d.person_id == p.id if d.person_id else p.skills.get(d.skill or "", 0) >= d.min_level
            if fits:
                pairs.append((p.id, d))
    choices = [range(int(d.hours / block) + 1) for _, d in pairs]
    best_value, best_allocs = float("-inf"), []
    for combo in itertools.product(*choices):
        allocs = [
            Allocation(person_id=pid, project_id=d.project_id, demand_id=d.id, week=d.week, hours=k * block)
            for (pid, d), k in zip(pairs, combo, strict=True)
            if k > 0
        ]
        report = check_plan(instance, bare_plan(allocs))
        if report.rules() & CONSTRAINT_RULES:
            continue
        if report.objective > best_value:
            best_value, best_allocs = report.objective, allocs
    return best_value, best_allocs


def valid(instance: Instance, prep: Prepared, assignment: Assignment, conflicts: list[PinConflict]) -> bool:
    """An internal assignment (from a search phase) assembled into a plan and judged by the independent checker."""
    return check_plan(instance, assemble(prep, assignment, 1e12, "completed", conflicts, NO_STATS)).ok


class Kit:
    """The helpers above, handed to tests through the ``kit`` fixture."""

    person = staticmethod(person)
    project = staticmethod(project)
    line = staticmethod(line)
    make = staticmethod(make)
    bare_plan = staticmethod(bare_plan)
    brute_force = staticmethod(brute_force)
    valid = staticmethod(valid)
    no_stats = NO_STATS
    constraint_rules = CONSTRAINT_RULES
    monday = MONDAY


@pytest.fixture
def kit() -> Kit:
    return Kit()
