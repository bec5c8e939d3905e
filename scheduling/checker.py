"""Independent plan checker.

Recomputes every rule and the objective from the instance and the plan's allocations alone. It
deliberately shares no code with the model, the greedy heuristic or the objective evaluator
(only the plain data types and the ``holidays`` package), so a bug in one is caught by the other.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta

import holidays
import msgspec

from scheduling.instance import Instance
from scheduling.plan import Plan

TOL = 1e-6


class Violation(msgspec.Struct, frozen=True):
    rule: str
    message: str


class CheckReport(msgspec.Struct, kw_only=True):
    violations: list[Violation]
    objective: float
    revenue: float
    cost: float
    churn: float
    utilization: float
    churn_events: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self) -> set[str]:
        return {v.rule for v in self.violations}


def _available_hours(
    instance: Instance, person_index: int, week: int, cache: dict[tuple[str, str | None], set[date]]
) -> float:
    person = instance.people[person_index]
    days = instance.rules.working_days
    monday = instance.start + timedelta(weeks=week)
    off: set[date] = set()
    if person.country:
        key = (person.country, person.subdivision)
        if key not in cache:
            last = instance.start + timedelta(weeks=instance.weeks)
            years = list(range(instance.start.year, last.year + 1))
            cache[key] = set(holidays.country_holidays(person.country, subdiv=person.subdivision, years=years))
        off |= cache[key]
    for period in person.time_off:
        day = period.start
        while day <= period.end:
            off.add(day)
            day += timedelta(days=1)
    present = sum(1 for i in range(days) if monday + timedelta(days=i) not in off)
    return person.weekly_capacity_hours * present / days


def check_plan(instance: Instance, plan: Plan, *, tolerance: float = 0.01) -> CheckReport:
    rules, weights = instance.rules, instance.weights
    violations: list[Violation] = []

    def bad(rule: str, message: str) -> None:
        violations.append(Violation(rule, message))

    people = {p.id: i for i, p in enumerate(instance.people)}
    projects = {p.id: p for p in instance.projects}
    lines = {d.id: d for d in instance.demand}
    holiday_cache: dict[tuple[str, str | None], set[date]] = {}

    per_line: dict[str, float] = defaultdict(float)
    per_person_week: dict[tuple[str, int], float] = defaultdict(float)
    per_ppw: dict[tuple[str, str, int], float] = defaultdict(float)
    seen: set[tuple[str, str]] = set()
    revenue = cost = 0.0
    for a in plan.allocations:
        where = f"{a.person_id} on {a.demand_id} (week {a.week})"
        line = lines.get(a.demand_id)
        if a.person_id not in people or line is None or a.project_id not in projects:
            bad("unknown_reference", f"{where}: unknown person, project or demand line")
            continue
        if line.project_id != a.project_id or line.week != a.week:
            bad("unknown_reference", f"{where}: line belongs to {line.project_id} week {line.week}")
            continue
        if (a.person_id, a.demand_id) in seen:
            bad("duplicate", f"{where}: allocated twice")
        seen.add((a.person_id, a.demand_id))
        person = instance.people[people[a.person_id]]
        if line.person_id is not None:
            if line.person_id != a.person_id:
                bad("skill_fit", f"{where}: line is for {line.person_id}")
        elif person.skills.get(line.skill or "", 0) < line.min_level:
            bad("skill_fit", f"{where}: needs {line.skill} level {line.min_level}")
        ratio = a.hours / rules.block_hours
        if a.hours <= 0 or abs(ratio - round(ratio)) > TOL:
            bad("block", f"{where}: {a.hours} h is not a positive multiple of {rules.block_hours} h")
        per_line[a.demand_id] += a.hours
        per_person_week[(a.person_id, a.week)] += a.hours
        per_ppw[(a.person_id, a.project_id, a.week)] += a.hours
        project = projects[a.project_id]
        probability = project.probability if project.tentative else 1.0
        rate = project.bill_rate if line.value_per_hour is None else line.value_per_hour
        per_hour = rate * weights.priority_multipliers.get(project.priority, 0.0) * probability
        revenue += a.hours * (per_hour + (weights.required_per_hour if line.required else 0.0))
        cost += a.hours * person.cost_rate
    revenue *= weights.revenue
    cost *= weights.cost

    for (pid, proj, week), hours in per_ppw.items():
        if hours < rules.min_hours - TOL:
            bad("min_hours", f"{pid} has {hours:g} h on {proj} in week {week} (< {rules.min_hours:g} h)")
    available: dict[tuple[str, int], float] = {}
    for pid, i in people.items():
        for week in range(instance.weeks):
            available[(pid, week)] = _available_hours(instance, i, week, holiday_cache)
    for (pid, week), hours in per_person_week.items():
        if hours > available[(pid, week)] + TOL:
            bad("capacity", f"{pid} has {hours:g} h in week {week} but only {available[(pid, week)]:g} h available")
    for did, hours in per_line.items():
        if hours > lines[did].hours + TOL:
            bad("overstaffed", f"{did} gets {hours:g} h of {lines[did].hours:g} h demand")
    count: dict[tuple[str, int], set[str]] = defaultdict(set)
    for pid, proj, week in per_ppw:
        count[(pid, week)].add(proj)
    for (pid, week), projs in count.items():
        person = instance.people[people[pid]]
        limit = rules.max_projects_per_week
        if person.max_concurrent_projects is not None:
            limit = min(limit, person.max_concurrent_projects)
        if len(projs) > limit:
            bad("max_projects", f"{pid} works on {len(projs)} projects in week {week} (limit {limit})")

    active: dict[str, set[int]] = defaultdict(set)
    for line in instance.demand:
        active[line.project_id].add(line.week)
    conflicted = {(c.person_id, c.project_id, c.week) for c in plan.pin_conflicts}
    for pin in instance.pins:
        if pin.kind == "must_not":
            weeks = pin.weeks if pin.weeks is not None else list(range(instance.weeks))
            for week in weeks:
                if per_ppw.get((pin.person_id, pin.project_id, week), 0.0) > 0:
                    bad(
                        "must_not_pin",
                        f"{pin.person_id} works on {pin.project_id} in week {week} despite a must-not pin",
                    )
        else:
            weeks = pin.weeks if pin.weeks is not None else sorted(active[pin.project_id])
            for week in weeks:
                if (pin.person_id, pin.project_id, week) in conflicted:
                    continue
                if per_ppw.get((pin.person_id, pin.project_id, week), 0.0) < max(rules.min_hours, TOL) - TOL:
                    bad("must_pin", f"{pin.person_id} is not on {pin.project_id} in week {week} despite a must pin")

    # Churn: joins and leaves between consecutive demand weeks, plus dropped existing members.
    team: dict[tuple[str, int], set[str]] = defaultdict(set)
    for pid, proj, week in per_ppw:
        team[(proj, week)].add(pid)
    events = 0
    for project in instance.projects:
        weeks = sorted(active[project.id])
        for week in weeks:
            if week + 1 in active[project.id]:
                events += len(team[(project.id, week)] ^ team[(project.id, week + 1)])
        if weeks:
            events += len(set(project.existing_team) - team[(project.id, weeks[0])])
    churn = weights.churn_per_change * events

    under = over = 0.0
    for pid, i in people.items():
        target_share = instance.people[i].utilization_target
        for week in range(instance.weeks):
            target = target_share * available[(pid, week)]
            hours = per_person_week.get((pid, week), 0.0)
            under += max(0.0, target - hours)
            over += max(0.0, hours - target)
    util = weights.under_utilization_per_hour * under + weights.over_utilization_per_hour * over
    objective = revenue - cost - churn - util

    scale = max(1.0, abs(objective))
    if abs(objective - plan.objective) > tolerance * max(1.0, scale * 1e-6):
        bad("objective", f"plan says objective {plan.objective:.2f}, recomputed {objective:.2f}")
    for name, value in (("revenue", revenue), ("cost", cost), ("churn", churn), ("utilization", util)):
        reported = getattr(plan.breakdown, name)
        if abs(reported - value) > tolerance * max(1.0, abs(value) * 1e-6):
            bad("objective", f"plan says {name} {reported:.2f}, recomputed {value:.2f}")
    if plan.bound < plan.objective - tolerance:
        bad("bound", f"bound {plan.bound:.2f} is below the objective {plan.objective:.2f}")
    expected_gap = 0.0 if plan.bound <= plan.objective else (plan.bound - plan.objective) / max(abs(plan.bound), 1e-9)
    if not math.isclose(plan.gap, expected_gap, rel_tol=1e-6, abs_tol=1e-9):
        bad("bound", f"gap {plan.gap} does not match bound and objective ({expected_gap})")

    reported_unmet = {u.demand_id: u for u in plan.unmet}
    for did, line in lines.items():
        missing = line.hours - per_line.get(did, 0.0)
        entry = reported_unmet.get(did)
        if missing > TOL and entry is None:
            bad("unmet_report", f"{did} misses {missing:g} h but is not reported as unmet")
        elif entry is not None and abs(entry.unmet_hours - max(0.0, missing)) > TOL:
            bad("unmet_report", f"{did}: reported {entry.unmet_hours:g} h unmet, actually {max(0.0, missing):g} h")
    for util_row in plan.utilization:
        for pw in util_row.weeks:
            actual = per_person_week.get((util_row.person_id, pw.week), 0.0)
            if abs(pw.allocated_hours - actual) > TOL:
                bad(
                    "utilization_report",
                    f"{util_row.person_id} week {pw.week}: reported {pw.allocated_hours:g} h, actually {actual:g} h",
                )
    return CheckReport(
        violations=violations,
        objective=objective,
        revenue=revenue,
        cost=cost,
        churn=churn,
        utilization=util,
        churn_events=events,
    )
