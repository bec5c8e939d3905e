"""Capacity-planning instance: the input of the solver (pure data, msgspec Structs).

A week index ``w`` means the Monday-to-Friday week starting ``Instance.start + 7 * w`` days.
All hours are hours per week; rates are currency per hour.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

PinKind = Literal["must", "must_not"]


class TimeOff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Whole days off, ``start`` to ``end`` inclusive (weekends are ignored)."""

    start: date
    end: date
    reason: str = ""


class Person(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str = ""
    skills: dict[str, int] = {}
    """Skill name -> level (1 = junior … 5 = expert)."""
    weekly_capacity_hours: float = 40.0
    country: str | None = None
    """ISO country code whose public holidays (``holidays`` package) reduce capacity."""
    subdivision: str | None = None
    time_off: list[TimeOff] = []
    cost_rate: float = 0.0
    utilization_target: float = 0.8
    """Fraction of the (time-off adjusted) weekly capacity the person should be allocated."""
    max_concurrent_projects: int | None = None
    """Per-person cap on projects in one week; the rule-wide cap applies too."""


class Project(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str = ""
    priority: int = 3
    """1 (highest) … 5 (lowest); mapped to a revenue multiplier by ``Weights.priority_multipliers``."""
    bill_rate: float = 0.0
    tentative: bool = False
    probability: float = 1.0
    """Win probability of a tentative project (revenue is weighted by it); ignored when confirmed."""
    existing_team: list[str] = []
    """People already on the project just before the horizon (continuity is rewarded)."""


class Demand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hours wanted on a project in one week.

    A placeholder line names a ``role`` with a ``skill`` and ``min_level`` and can be staffed by
    anyone who fits; a named line (``person_id``) can only be staffed by that person.
    """

    id: str
    project_id: str
    week: int
    hours: float
    role: str = ""
    skill: str | None = None
    min_level: int = 1
    person_id: str | None = None
    value_per_hour: float | None = None
    """What a staffed hour of this line is worth, instead of the project's bill rate (e.g. internal work at
    bill rate 0); still weighted by the priority multiplier and probability."""
    required: bool = False
    """Must be staffed: each staffed hour also earns ``Weights.required_per_hour``, more than any rate, so
    the plan staffs it whenever the rules allow, and says why in ``unmet`` when they do not."""


class Pin(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``must``: the person works on the project (at least the minimum hours) in each listed week;
    ``must_not``: never. ``weeks=None`` means every week in which the project has demand."""

    person_id: str
    project_id: str
    kind: PinKind
    weeks: list[int] | None = None


class Rules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    block_hours: float = 4.0
    """Allocations are whole multiples of this many hours."""
    min_hours: float = 8.0
    """A person on a project in a week gets at least this many hours there."""
    max_projects_per_week: int = 3
    working_days: int = 5
    """Days per week the weekly capacity is spread over (Monday onwards)."""


class Weights(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Objective weights (see docs/capacity.md). All terms are in currency."""

    revenue: float = 1.0
    """Multiplier on staffed hours × bill rate × priority multiplier × probability."""
    cost: float = 1.0
    """Multiplier on allocated hours × cost rate."""
    churn_per_change: float = 300.0
    """Penalty per person joining or leaving a project between two consecutive demand weeks."""
    under_utilization_per_hour: float = 15.0
    over_utilization_per_hour: float = 25.0
    priority_multipliers: dict[int, float] = msgspec.field(
        default_factory=lambda: {1: 2.0, 2: 1.5, 3: 1.2, 4: 1.0, 5: 0.8}
    )
    """Project priority (1 highest) -> revenue multiplier."""
    required_per_hour: float = 10_000.0
    """Added to the value of each staffed hour of a ``required`` demand line (counted in revenue)."""


class Instance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start: date
    """Monday of week 0."""
    weeks: int
    people: list[Person]
    projects: list[Project]
    demand: list[Demand]
    pins: list[Pin] = []
    rules: Rules = Rules()
    weights: Weights = Weights()
    name: str = ""


def load_instance(data: bytes | str) -> Instance:
    """Decode a JSON instance (raises ``msgspec.ValidationError`` on schema errors)."""
    return msgspec.json.decode(data, type=Instance)


def dump_instance(instance: Instance) -> bytes:
    return msgspec.json.format(msgspec.json.encode(instance), indent=1)
