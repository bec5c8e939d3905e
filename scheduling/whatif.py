"""What-if scenarios. Each one changes the instance, re-solves starting from the base plan (so
that unrelated allocations stay put) and returns the new plan with its diff to the base plan."""

from __future__ import annotations

import msgspec

from scheduling.diff import PlanDiff, diff_plans
from scheduling.instance import Instance, Person, Pin
from scheduling.options import ProgressCallback, SolveOptions, StopCheck
from scheduling.plan import Plan
from scheduling.solver import solve


class WhatIfResult(msgspec.Struct, kw_only=True):
    scenario: str
    instance: Instance
    plan: Plan
    diff: PlanDiff
    notes: list[str] = []


def _run(
    scenario: str,
    instance: Instance,
    base: Plan,
    options: SolveOptions | None,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
    notes: list[str],
) -> WhatIfResult:
    plan = solve(instance, options, progress, should_stop, start_from=base)
    return WhatIfResult(scenario=scenario, instance=instance, plan=plan, diff=diff_plans(base, plan), notes=notes)


def with_hire(instance: Instance, person: Person) -> Instance:
    """The instance with ``person`` (e.g. a planned hire) added to the team."""
    if any(p.id == person.id for p in instance.people):
        raise ValueError(f"person {person.id!r} already exists")
    return msgspec.structs.replace(instance, people=[*instance.people, person])


def with_delay(instance: Instance, project_id: str, weeks: int) -> tuple[Instance, list[str]]:
    """The instance with all demand (and week-specific pins) of ``project_id`` shifted by ``weeks`` (may be
    negative), and notes on demand and pins pushed outside the horizon (dropped)."""
    if all(p.id != project_id for p in instance.projects):
        raise ValueError(f"unknown project {project_id!r}")
    notes: list[str] = []
    demand = []
    for line in instance.demand:
        if line.project_id != project_id:
            demand.append(line)
            continue
        week = line.week + weeks
        if 0 <= week < instance.weeks:
            demand.append(msgspec.structs.replace(line, week=week))
        else:
            notes.append(f"{line.id} ({line.hours:g} h) moves to week {week}, outside the horizon")
    pins: list[Pin] = []
    for pin in instance.pins:
        if pin.project_id == project_id and pin.weeks is not None:
            shifted = [w + weeks for w in pin.weeks if 0 <= w + weeks < instance.weeks]
            if not shifted:
                notes.append(f"pin {pin.kind} {pin.person_id} on {project_id} leaves the horizon")
                continue
            pin = msgspec.structs.replace(pin, weeks=shifted)
        pins.append(pin)
    return msgspec.structs.replace(instance, demand=demand, pins=pins), notes


def without_project(instance: Instance, project_id: str) -> Instance:
    """The instance without the tentative project ``project_id`` (its demand and pins): the deal is lost."""
    project = next((p for p in instance.projects if p.id == project_id), None)
    if project is None:
        raise ValueError(f"unknown project {project_id!r}")
    if not project.tentative:
        raise ValueError(f"project {project_id!r} is confirmed; only tentative projects can be dropped")
    return msgspec.structs.replace(
        instance,
        projects=[p for p in instance.projects if p.id != project_id],
        demand=[d for d in instance.demand if d.project_id != project_id],
        pins=[p for p in instance.pins if p.project_id != project_id],
    )


def hire_person(
    instance: Instance,
    base: Plan,
    person: Person,
    options: SolveOptions | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> WhatIfResult:
    """Add ``person`` (e.g. a planned hire) to the team."""
    changed = with_hire(instance, person)
    return _run(f"hire {person.id}", changed, base, options, progress, should_stop, [])


def delay_project(
    instance: Instance,
    base: Plan,
    project_id: str,
    weeks: int,
    options: SolveOptions | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> WhatIfResult:
    """Shift all demand (and week-specific pins) of ``project_id`` by ``weeks`` (may be negative);
    demand pushed outside the horizon is dropped and listed in ``notes``."""
    changed, notes = with_delay(instance, project_id, weeks)
    return _run(f"delay {project_id} by {weeks} week(s)", changed, base, options, progress, should_stop, notes)


def drop_project(
    instance: Instance,
    base: Plan,
    project_id: str,
    options: SolveOptions | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> WhatIfResult:
    """Remove a tentative project (its demand and pins) - e.g. the deal is lost."""
    changed = without_project(instance, project_id)
    return _run(f"drop {project_id}", changed, base, options, progress, should_stop, [])
