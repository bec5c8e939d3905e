"""Relaxation-guided construction and improvement (flow-based week decomposition).

``construct``: week by week, the flow relaxation is solved on the capacity left after the pins,
with a continuity bonus on every block of people who were on the project the week before, then
repaired (at most K projects per person, at least the minimum hours per person-project) and
topped up by the greedy heuristic.

``polish``: coordinate descent over weeks. Each week is re-planned the same way with bonuses for
people on the project in the week before *and* after, and the new week is kept only if the exact
objective terms touching that week (revenue, cost, utilization, churn to both neighbours) improve.

Both give starting plans for the CP-SAT model; neither is used for the bound.
"""

from __future__ import annotations

import time
from collections import defaultdict

from scheduling.flows import week_flow
from scheduling.greedy import greedy, utilization_value
from scheduling.prepared import Assignment, Prepared

Teams = dict[tuple[int, int], set[int]]


def _teams(prep: Prepared, plan: Assignment) -> Teams:
    team: Teams = defaultdict(set)
    for (p, d), blocks in plan.items():
        if blocks > 0:
            team[(prep.line_project[d], prep.line_week[d])].add(p)
    return team


def _neighbours(prep: Prepared, team: Teams, j: int, w: int, step: int) -> set[int] | frozenset[int]:
    """People on project j in week w+step when that week has demand (existing team before the start)."""
    if prep.active(j, w + step):
        return team.get((j, w + step), set())
    if step < 0 and prep.first_active_week.get(j) == w:
        return prep.existing[j]
    return set()


def _plan_week(prep: Prepared, w: int, seed: Assignment, team: Teams, factor: float, both_sides: bool) -> Assignment:
    """A fresh plan for week ``w`` (seed allocations of the week included)."""
    churn = prep.instance.weights.churn_per_change
    used: dict[tuple[int, int], int] = defaultdict(int)
    booked: dict[int, int] = defaultdict(int)
    seeded: dict[int, set[int]] = defaultdict(set)
    week_seed = {key: b for key, b in seed.items() if prep.line_week[key[1]] == w}
    for (p, d), blocks in week_seed.items():
        used[(p, w)] += blocks
        booked[d] += blocks
        seeded[p].add(prep.line_project[d])
    bonus: dict[tuple[int, int], tuple[int, float]] = {}
    for d in prep.lines_by_week[w]:
        j = prep.line_project[d]
        before = _neighbours(prep, team, j, w, -1)
        after = _neighbours(prep, team, j, w, +1) if both_sides else set()
        for p in prep.eligible[d]:
            sides = (p in before) + (p in after)
            if sides:
                bonus[(p, d)] = (prep.line_blocks[d], sides * factor * churn / prep.line_blocks[d])
    _, flows = week_flow(prep, w, dict(enumerate(prep.eligible)), used=used, booked=booked, bonus=bonus)

    # Repair: projects-per-week limit (seeded projects first, then the largest) and minimum hours.
    per_project: dict[tuple[int, int], int] = defaultdict(int)
    for (p, d), blocks in flows.items():
        per_project[(p, prep.line_project[d])] += blocks
    by_person: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (p, j), blocks in per_project.items():
        by_person[p].append((blocks, j))
    keep: set[tuple[int, int]] = set()
    for p, items in by_person.items():
        room = prep.max_projects[p] - len(seeded[p])
        for blocks, j in sorted(items, reverse=True):
            if j in seeded[p]:
                keep.add((p, j))
            elif room > 0 and blocks >= prep.min_blocks:
                keep.add((p, j))
                room -= 1
    week_plan = dict(week_seed)
    for (p, d), blocks in flows.items():
        if (p, prep.line_project[d]) in keep:
            week_plan[(p, d)] = week_plan.get((p, d), 0) + blocks
    return week_plan


def _fill_week(prep: Prepared, plan: Assignment, week_plan: Assignment, w: int) -> Assignment:
    """Top up week ``w`` greedily (the week before is passed along for continuity)."""
    context = {key: b for key, b in plan.items() if prep.line_week[key[1]] == w - 1}
    context.update(week_plan)
    filled = greedy(prep, context, prep.lines_by_week[w])
    return {key: b for key, b in filled.items() if prep.line_week[key[1]] == w}


def week_value(prep: Prepared, w: int, week_plan: Assignment, team: Teams) -> float:
    """The objective terms that depend on week ``w`` (others held at ``team``)."""
    value = 0.0
    used: dict[int, int] = defaultdict(int)
    own: Teams = defaultdict(set)
    for (p, d), blocks in week_plan.items():
        value += blocks * prep.block_value(p, d)
        used[p] += blocks
        own[(prep.line_project[d], w)].add(p)
    for p, blocks in used.items():
        value += utilization_value(prep, p, w, blocks) - utilization_value(prep, p, w, 0)
    events = 0
    for j, ww in prep.lines_by_pw:
        if ww != w:
            continue
        current = own.get((j, w), set())
        if prep.active(j, w - 1):
            events += len(current ^ team.get((j, w - 1), set()))
        elif prep.first_active_week.get(j) == w:
            events += len(prep.existing[j] - current)
        if prep.active(j, w + 1):
            events += len(current ^ team.get((j, w + 1), set()))
    return value - prep.instance.weights.churn_per_change * events


def construct(prep: Prepared, seed: Assignment, factor: float = 1.0) -> Assignment:
    plan: Assignment = {}
    team: Teams = defaultdict(set)
    for w in range(prep.n_weeks):
        week_plan = _fill_week(prep, plan, _plan_week(prep, w, seed, team, factor, both_sides=False), w)
        plan.update(week_plan)
        for key in _teams(prep, week_plan).items():
            team[key[0]] = key[1]
    return plan


def polish(prep: Prepared, plan: Assignment, seed: Assignment, deadline: float, factor: float = 1.0) -> Assignment:
    """Coordinate descent over weeks until no week improves or ``deadline`` (monotonic) passes."""
    plan = dict(plan)
    by_week: dict[int, Assignment] = defaultdict(dict)
    for key, blocks in plan.items():
        by_week[prep.line_week[key[1]]][key] = blocks
    team = _teams(prep, plan)
    order = list(range(prep.n_weeks))
    for sweep in range(6):
        improved = False
        for w in order if sweep % 2 else reversed(order):
            if time.monotonic() > deadline:
                return plan
            candidate = _fill_week(prep, plan, _plan_week(prep, w, seed, team, factor, both_sides=True), w)
            if week_value(prep, w, candidate, team) > week_value(prep, w, by_week[w], team) + 1e-6:
                for key in by_week[w]:
                    plan.pop(key, None)
                plan.update(candidate)
                by_week[w] = candidate
                for j, ww in list(team):
                    if ww == w:
                        del team[(j, ww)]
                team.update(_teams(prep, candidate))
                improved = True
        if not improved:
            break
    return plan
