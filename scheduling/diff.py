"""Plan diff: what changes between two plans (used by the what-ifs)."""

from __future__ import annotations

from collections import defaultdict

import msgspec

from scheduling.plan import Plan


class AllocationChange(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    project_id: str
    week: int
    hours_before: float
    hours_after: float


class PlanDiff(msgspec.Struct, frozen=True, kw_only=True):
    objective_before: float
    objective_after: float
    objective_delta: float
    breakdown_delta: dict[str, float]
    """revenue, cost, churn, utilization, staffed_hours: after - before."""
    unmet_hours_before: float
    unmet_hours_after: float
    unmet_delta_by_project: dict[str, float]
    """Project -> change of unmet hours (negative: more demand staffed)."""
    added: list[AllocationChange]
    removed: list[AllocationChange]
    changed: list[AllocationChange]
    """Per (person, project, week): new, gone, and changed hours."""


def _hours(plan: Plan) -> dict[tuple[str, str, int], float]:
    result: dict[tuple[str, str, int], float] = defaultdict(float)
    for a in plan.allocations:
        result[(a.person_id, a.project_id, a.week)] += a.hours
    return result


def diff_plans(before: Plan, after: Plan) -> PlanDiff:
    old, new = _hours(before), _hours(after)
    added: list[AllocationChange] = []
    removed: list[AllocationChange] = []
    changed: list[AllocationChange] = []
    for key in sorted(set(old) | set(new), key=lambda k: (k[2], k[1], k[0])):
        a, b = old.get(key, 0.0), new.get(key, 0.0)
        if abs(a - b) < 1e-9:
            continue
        change = AllocationChange(person_id=key[0], project_id=key[1], week=key[2], hours_before=a, hours_after=b)
        (added if a == 0 else removed if b == 0 else changed).append(change)
    unmet: dict[str, float] = defaultdict(float)
    for u in before.unmet:
        unmet[u.project_id] -= u.unmet_hours
    for u in after.unmet:
        unmet[u.project_id] += u.unmet_hours
    fields = ("revenue", "cost", "churn", "utilization", "staffed_hours")
    return PlanDiff(
        objective_before=before.objective,
        objective_after=after.objective,
        objective_delta=after.objective - before.objective,
        breakdown_delta={f: getattr(after.breakdown, f) - getattr(before.breakdown, f) for f in fields},
        unmet_hours_before=sum(u.unmet_hours for u in before.unmet),
        unmet_hours_after=sum(u.unmet_hours for u in after.unmet),
        unmet_delta_by_project={k: v for k, v in sorted(unmet.items()) if abs(v) > 1e-9},
        added=added,
        removed=removed,
        changed=changed,
    )
