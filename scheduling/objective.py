"""Objective of an assignment (model side; the plan checker recomputes it independently).

objective = revenue - cost - churn - utilization, where
  revenue     = Σ staffed hours × bill rate × priority multiplier × probability (tentative) × w_revenue
  cost        = Σ allocated hours × cost rate × w_cost
  churn       = w_churn × (number of people joining or leaving a project between two consecutive
                weeks in which the project has demand + existing-team members not on the project in
                its first demand week)
  utilization = Σ over person-weeks of w_under × hours below target + w_over × hours above target
"""

from __future__ import annotations

from collections import defaultdict

from scheduling.plan import ObjectiveBreakdown
from scheduling.prepared import Assignment, Prepared


def person_week_hours(prep: Prepared, assignment: Assignment) -> dict[tuple[int, int], float]:
    used: dict[tuple[int, int], float] = defaultdict(float)
    for (p, d), blocks in assignment.items():
        used[(p, prep.line_week[d])] += blocks * prep.block_hours
    return used


def staffed_sets(prep: Prepared, assignment: Assignment) -> dict[tuple[int, int], set[int]]:
    """(project, week) -> people with hours on it."""
    team: dict[tuple[int, int], set[int]] = defaultdict(set)
    for (p, d), blocks in assignment.items():
        if blocks > 0:
            team[(prep.line_project[d], prep.line_week[d])].add(p)
    return team


def churn_events(prep: Prepared, assignment: Assignment) -> int:
    team = staffed_sets(prep, assignment)
    events = 0
    for j, w in prep.lines_by_pw:
        current = team.get((j, w), set())
        if prep.active(j, w + 1):
            events += len(current ^ team.get((j, w + 1), set()))
        if prep.first_active_week[j] == w:
            events += len(prep.existing[j] - current)
    return events


def utilization_penalty(prep: Prepared, p: int, w: int, hours: float) -> tuple[float, float]:
    """(hours under target, hours over target)."""
    target = prep.target_hours[p][w]
    return max(0.0, target - hours), max(0.0, hours - target)


def evaluate(prep: Prepared, assignment: Assignment) -> ObjectiveBreakdown:
    weights = prep.instance.weights
    bh = prep.block_hours
    revenue = cost = staffed = 0.0
    for (p, d), blocks in assignment.items():
        hours = blocks * bh
        staffed += hours
        revenue += hours * prep.line_value[d]
        cost += hours * prep.cost_per_hour[p]
    used = person_week_hours(prep, assignment)
    under = over = 0.0
    for p in range(len(prep.people)):
        for w in range(prep.n_weeks):
            u, o = utilization_penalty(prep, p, w, used.get((p, w), 0.0))
            under += u
            over += o
    events = churn_events(prep, assignment)
    churn = weights.churn_per_change * events
    util = weights.under_utilization_per_hour * under + weights.over_utilization_per_hour * over
    return ObjectiveBreakdown(
        revenue=revenue,
        cost=cost,
        churn=churn,
        utilization=util,
        objective=revenue - cost - churn - util,
        staffed_hours=staffed,
        churn_events=events,
        under_hours=under,
        over_hours=over,
    )
