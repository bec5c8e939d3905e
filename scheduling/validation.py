"""Input validation: every problem in an instance, reported at once as readable messages."""

from __future__ import annotations

import math

import holidays

from scheduling.instance import Instance

HOURS_IN_A_WEEK = 168.0
"""Upper bound of a weekly capacity: more than a week holds is a typo (e.g. 1e12), not a person."""
MAX_RATE = 1_000_000.0
"""Upper bound of an hourly cost or bill rate: keeps the model's integer coefficients far from overflow."""


def _out_of_range(value: float, low: float, high: float) -> bool:
    return not (math.isfinite(value) and low <= value <= high)


class InstanceError(ValueError):
    """The instance cannot be planned; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid capacity instance:\n  - " + "\n  - ".join(errors))
        self.errors = errors


def _duplicates(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for i in ids:
        if i in seen and i not in dup:
            dup.append(i)
        seen.add(i)
    return dup


def validate_instance(instance: Instance) -> list[str]:
    errors: list[str] = []
    rules, weights = instance.rules, instance.weights
    if instance.start.weekday() != 0:
        errors.append(f"start {instance.start} is not a Monday")
    if instance.weeks < 1:
        errors.append("weeks must be at least 1")
    if rules.block_hours <= 0:
        errors.append("rules.block_hours must be positive")
    if rules.min_hours < 0:
        errors.append("rules.min_hours must be >= 0")
    if rules.max_projects_per_week < 1:
        errors.append("rules.max_projects_per_week must be >= 1")
    if not 1 <= rules.working_days <= 7:
        errors.append("rules.working_days must be between 1 and 7")
    for name in ("revenue", "cost", "churn_per_change"):
        if getattr(weights, name) < 0:
            errors.append(f"weights.{name} must be >= 0")
    if _out_of_range(weights.required_per_hour, 0, 1e7):
        errors.append("weights.required_per_hour must be within 0..1e+07")
    if weights.under_utilization_per_hour + weights.over_utilization_per_hour < 0:
        errors.append("weights: under + over utilization penalties must be >= 0")
    for kind, ids in (
        ("person", [p.id for p in instance.people]),
        ("project", [p.id for p in instance.projects]),
        ("demand", [d.id for d in instance.demand]),
    ):
        for dup in _duplicates(ids):
            errors.append(f"duplicate {kind} id {dup!r}")
    people = {p.id for p in instance.people}
    projects = {p.id for p in instance.projects}
    supported = holidays.list_supported_countries()
    for person in instance.people:
        where = f"person {person.id!r}"
        if _out_of_range(person.weekly_capacity_hours, 0, HOURS_IN_A_WEEK):
            errors.append(f"{where}: weekly_capacity_hours must be within 0..{HOURS_IN_A_WEEK:g}")
        if _out_of_range(person.cost_rate, 0, MAX_RATE):
            errors.append(f"{where}: cost_rate must be within 0..{MAX_RATE:g}")
        if not 0 <= person.utilization_target <= 1.5:
            errors.append(f"{where}: utilization_target must be within 0..1.5")
        if person.max_concurrent_projects is not None and person.max_concurrent_projects < 0:
            errors.append(f"{where}: max_concurrent_projects must be >= 0")
        for skill, level in person.skills.items():
            if not 1 <= level <= 5:
                errors.append(f"{where}: level of {skill!r} must be within 1..5")
        if person.country is not None:
            if person.country not in supported:
                errors.append(f"{where}: unknown holiday country {person.country!r}")
            elif person.subdivision is not None and person.subdivision not in supported[person.country]:
                errors.append(f"{where}: unknown subdivision {person.subdivision!r} of {person.country}")
        for off in person.time_off:
            if off.end < off.start:
                errors.append(f"{where}: time off ends ({off.end}) before it starts ({off.start})")
    for project in instance.projects:
        where = f"project {project.id!r}"
        if project.priority not in weights.priority_multipliers:
            errors.append(f"{where}: priority {project.priority} has no multiplier in weights")
        if not 0 <= project.probability <= 1:
            errors.append(f"{where}: probability must be within 0..1")
        if _out_of_range(project.bill_rate, 0, MAX_RATE):
            errors.append(f"{where}: bill_rate must be within 0..{MAX_RATE:g}")
        for pid in project.existing_team:
            if pid not in people:
                errors.append(f"{where}: existing_team member {pid!r} is not a person")
    for line in instance.demand:
        where = f"demand {line.id!r}"
        if line.project_id not in projects:
            errors.append(f"{where}: unknown project {line.project_id!r}")
        if not 0 <= line.week < instance.weeks:
            errors.append(f"{where}: week {line.week} outside 0..{instance.weeks - 1}")
        if line.hours <= 0 or not math.isfinite(line.hours):
            errors.append(f"{where}: hours must be positive")
        elif rules.block_hours > 0:
            blocks = line.hours / rules.block_hours
            if not math.isclose(blocks, round(blocks), abs_tol=1e-9):
                errors.append(f"{where}: {line.hours:g} h is not a multiple of the {rules.block_hours:g} h block")
        if line.person_id is None and line.skill is None:
            errors.append(f"{where}: needs a skill (placeholder) or a person_id (named)")
        elif line.person_id is not None and line.skill is not None:
            # Which would win is a guess either way (the named person, or anyone with the skill): refuse it.
            errors.append(f"{where}: give either a skill (placeholder) or a person_id (named), not both")
        if line.person_id is not None and line.person_id not in people:
            errors.append(f"{where}: unknown person {line.person_id!r}")
        if line.value_per_hour is not None and _out_of_range(line.value_per_hour, 0, MAX_RATE):
            errors.append(f"{where}: value_per_hour must be within 0..{MAX_RATE:g}")
        if not 1 <= line.min_level <= 5:
            errors.append(f"{where}: min_level must be within 1..5")
    for i, pin in enumerate(instance.pins):
        where = f"pin #{i} ({pin.kind} {pin.person_id} on {pin.project_id})"
        if pin.person_id not in people:
            errors.append(f"{where}: unknown person")
        if pin.project_id not in projects:
            errors.append(f"{where}: unknown project")
        for w in pin.weeks or []:
            if not 0 <= w < instance.weeks:
                errors.append(f"{where}: week {w} outside the horizon")
    return errors


def ensure_valid(instance: Instance) -> None:
    errors = validate_instance(instance)
    if errors:
        raise InstanceError(errors)
