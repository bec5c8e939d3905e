"""Greedy heuristic: the baseline and the CP-SAT hint.

Projects are taken by value per hour (bill rate × priority multiplier × probability), each week
in order; each demand line is filled by the people who fit, preferring those already on the
project (continuity, existing team), then the cheapest. A person takes the number of blocks that
maximises the objective change (revenue - cost, utilization-target effects and the churn of joining),
honouring capacity, blocks, minimum hours, the projects-per-week limit and the pins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from scheduling.plan import Allocation, Plan
from scheduling.prepared import Assignment, Prepared


def utilization_value(prep: Prepared, p: int, w: int, blocks: int) -> float:
    """-(under + over utilization penalty) of person p in week w with ``blocks`` allocated."""
    weights = prep.instance.weights
    hours = blocks * prep.block_hours
    target = prep.target_hours[p][w]
    return -weights.under_utilization_per_hour * max(0.0, target - hours) - (
        weights.over_utilization_per_hour * max(0.0, hours - target)
    )


def greedy(prep: Prepared, seed: Assignment | None = None, lines: list[int] | None = None) -> Assignment:
    """Greedy plan on top of ``seed`` (kept as is); only ``lines`` are filled when given."""
    assignment: Assignment = dict(seed or {})
    used: dict[tuple[int, int], int] = defaultdict(int)
    on: set[tuple[int, int, int]] = set()
    n_projects: dict[tuple[int, int], int] = defaultdict(int)
    remaining = list(prep.line_blocks)
    churn = prep.instance.weights.churn_per_change

    def book(p: int, d: int, blocks: int) -> None:
        j, w = prep.line_project[d], prep.line_week[d]
        used[(p, w)] += blocks
        remaining[d] -= blocks
        if (p, j, w) not in on:
            on.add((p, j, w))
            n_projects[(p, w)] += 1

    for (p, d), blocks in list(assignment.items()):
        book(p, d, blocks)

    order = sorted(
        range(len(prep.lines)) if lines is None else lines,
        key=lambda d: (-prep.line_value[d], prep.line_project[d], prep.line_week[d], d),
    )
    for d in order:
        if remaining[d] <= 0:
            continue
        j, w = prep.line_project[d], prep.line_week[d]

        def continuing(p: int, j: int = j, w: int = w) -> bool:
            if (p, j, w) in on or (p, j, w - 1) in on:
                return True
            return prep.first_active_week.get(j) == w and p in prep.existing[j]

        candidates = sorted(prep.eligible[d], key=lambda p: (not continuing(p), -prep.block_value(p, d), p))
        for p in candidates:
            if remaining[d] <= 0:
                break
            already = (p, j, w) in on
            if not already and n_projects[(p, w)] >= prep.max_projects[p]:
                continue
            free = prep.cap_blocks[p][w] - used[(p, w)]
            most = min(free, remaining[d])
            least = 1 if already else prep.min_blocks
            if most < least:
                continue
            # Joining costs churn when the project ran the week before without this person.
            join_cost = 0.0
            if not continuing(p) and prep.active(j, w - 1):
                join_cost = churn
            base = utilization_value(prep, p, w, used[(p, w)])
            best_k, best_gain = 0, 0.0
            for k in range(least, most + 1):
                gain = (
                    k * prep.block_value(p, d)
                    + utilization_value(prep, p, w, used[(p, w)] + k)
                    - base
                    - (0.0 if already else join_cost)
                )
                if gain > best_gain + 1e-9:
                    best_k, best_gain = k, gain
            if best_k:
                assignment[(p, d)] = assignment.get((p, d), 0) + best_k
                book(p, d, best_k)
    return assignment


def sanitize(prep: Prepared, plan: Plan | Sequence[Allocation], seed: Assignment) -> Assignment:
    """The allocations of an earlier plan (possibly of a different instance, e.g. before a what-if, or a
    checkpoint of an interrupted solve) that are still valid here, on top of ``seed``; used to start close
    to the earlier plan."""
    earlier = plan.allocations if isinstance(plan, Plan) else plan
    result: Assignment = dict(seed)
    used: dict[tuple[int, int], int] = defaultdict(int)
    booked: dict[int, int] = defaultdict(int)
    projects: dict[tuple[int, int], set[int]] = defaultdict(set)
    for (p, d), blocks in seed.items():
        used[(p, prep.line_week[d])] += blocks
        booked[d] += blocks
        projects[(p, prep.line_week[d])].add(prep.line_project[d])
    added: Assignment = {}
    for alloc in sorted(earlier, key=lambda a: (a.week, a.project_id, a.person_id, a.demand_id)):
        pi = prep.person_index.get(alloc.person_id)
        di = prep.line_index.get(alloc.demand_id)
        if pi is None or di is None or pi not in prep.eligible[di] or (pi, di) in seed:
            continue
        p, d = pi, di
        w, j = prep.line_week[d], prep.line_project[d]
        if j not in projects[(p, w)] and len(projects[(p, w)]) >= prep.max_projects[p]:
            continue
        blocks = min(
            int(alloc.hours / prep.block_hours + 1e-9),
            prep.cap_blocks[p][w] - used[(p, w)],
            prep.line_blocks[d] - booked[d],
        )
        if blocks <= 0:
            continue
        added[(p, d)] = blocks
        used[(p, w)] += blocks
        booked[d] += blocks
        projects[(p, w)].add(j)
    per_pjw: dict[tuple[int, int, int], int] = defaultdict(int)
    for (p, d), blocks in {**added, **seed}.items():
        per_pjw[(p, prep.line_project[d], prep.line_week[d])] += blocks
    for (p, d), blocks in added.items():
        if per_pjw[(p, prep.line_project[d], prep.line_week[d])] >= prep.min_blocks:
            result[(p, d)] = blocks
    return result
