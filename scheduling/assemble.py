"""Turn an assignment into the output ``Plan`` (allocations, utilization, unmet demand)."""

from __future__ import annotations

from collections import defaultdict

from scheduling.explain import explain_unmet
from scheduling.objective import evaluate
from scheduling.plan import (
    Allocation,
    PersonUtilization,
    PersonWeek,
    PinConflict,
    Plan,
    PlanStatus,
    SolveStats,
    StopReason,
    relative_gap,
)
from scheduling.prepared import Assignment, Prepared


def utilization(prep: Prepared, assignment: Assignment) -> list[PersonUtilization]:
    hours: dict[tuple[int, int], float] = defaultdict(float)
    projects: dict[tuple[int, int], set[str]] = defaultdict(set)
    for (p, d), blocks in assignment.items():
        w = prep.line_week[d]
        hours[(p, w)] += blocks * prep.block_hours
        projects[(p, w)].add(prep.projects[prep.line_project[d]].id)
    result: list[PersonUtilization] = []
    for p, person in enumerate(prep.people):
        weeks = [
            PersonWeek(
                week=w,
                capacity_hours=prep.cap_hours[p][w],
                allocated_hours=hours[(p, w)],
                target_hours=prep.target_hours[p][w],
                projects=sorted(projects[(p, w)]),
            )
            for w in range(prep.n_weeks)
        ]
        capacity = sum(pw.capacity_hours for pw in weeks)
        allocated = sum(pw.allocated_hours for pw in weeks)
        result.append(
            PersonUtilization(
                person_id=person.id,
                name=person.name,
                capacity_hours=capacity,
                allocated_hours=allocated,
                utilization=allocated / capacity if capacity > 0 else 0.0,
                target=person.utilization_target,
                weeks=weeks,
            )
        )
    return result


def allocations(prep: Prepared, assignment: Assignment) -> list[Allocation]:
    return sorted(
        (
            Allocation(
                person_id=prep.people[p].id,
                project_id=prep.projects[prep.line_project[d]].id,
                demand_id=prep.lines[d].id,
                week=prep.line_week[d],
                hours=blocks * prep.block_hours,
            )
            for (p, d), blocks in assignment.items()
            if blocks > 0
        ),
        key=lambda a: (a.week, a.project_id, a.demand_id, a.person_id),
    )


def assemble(
    prep: Prepared,
    assignment: Assignment,
    bound: float,
    stop: StopReason,
    conflicts: list[PinConflict],
    stats: SolveStats,
) -> Plan:
    breakdown = evaluate(prep, assignment)
    bound = max(bound, breakdown.objective)  # never report a bound below a plan we hold
    gap = relative_gap(breakdown.objective, bound)
    status: PlanStatus = "cancelled" if stop == "cancelled" else ("optimal" if gap <= 1e-7 else "feasible")
    return Plan(
        status=status,
        stop_reason=stop,
        objective=breakdown.objective,
        bound=bound,
        gap=gap,
        breakdown=breakdown,
        allocations=allocations(prep, assignment),
        utilization=utilization(prep, assignment),
        unmet=explain_unmet(prep, assignment),
        pin_conflicts=conflicts,
        stats=stats,
    )
