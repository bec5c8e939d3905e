"""The solver's output: a plan (pure data, msgspec Structs)."""

from __future__ import annotations

from typing import Literal

import msgspec

UnmetReason = Literal[
    "no_skill",
    "pin_conflict",
    "time_off",
    "capacity_taken_by_higher_priority",
    "capacity_taken",
    "rule_limit",
    "not_profitable",
    "not_chosen",
]
"""Why demand hours stayed unstaffed (see ``scheduling.explain`` and docs/capacity.md)."""

PlanStatus = Literal["optimal", "feasible", "cancelled"]
StopReason = Literal["optimal", "gap_limit", "time_limit", "cancelled", "stalled", "completed"]


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    project_id: str
    demand_id: str
    week: int
    hours: float


class PersonWeek(msgspec.Struct, frozen=True, kw_only=True):
    week: int
    capacity_hours: float
    allocated_hours: float
    target_hours: float
    projects: list[str]


class PersonUtilization(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    name: str
    capacity_hours: float
    allocated_hours: float
    utilization: float
    """Allocated / capacity over the horizon (0 when there is no capacity)."""
    target: float
    weeks: list[PersonWeek]


class UnmetDemand(msgspec.Struct, frozen=True, kw_only=True):
    demand_id: str
    project_id: str
    week: int
    role: str
    skill: str | None
    person_id: str | None
    demand_hours: float
    staffed_hours: float
    unmet_hours: float
    reason: UnmetReason
    detail: str
    blocking_projects: list[str] = []
    """Projects holding the capacity of the people who could have staffed this line."""


class PinConflict(msgspec.Struct, frozen=True, kw_only=True):
    """A must pin that cannot be honoured; the plan is solved without it."""

    person_id: str
    project_id: str
    week: int
    reason: str
    pins: list[int]
    """Indices (in ``Instance.pins``) of the pins involved."""


class ObjectiveBreakdown(msgspec.Struct, frozen=True, kw_only=True):
    """objective = revenue - cost - churn - utilization (all weighted, in currency)."""

    revenue: float
    cost: float
    churn: float
    utilization: float
    objective: float
    staffed_hours: float
    churn_events: int
    under_hours: float
    over_hours: float


class SolveStats(msgspec.Struct, kw_only=True):
    greedy_objective: float
    greedy_seconds: float
    first_plan_seconds: float | None
    """Time until the first complete plan improved by the CP-SAT model (None: greedy kept)."""
    wall_seconds: float
    model_solutions: int
    decomposed: bool
    windows: int
    variables: int
    bound_source: str


class Plan(msgspec.Struct, kw_only=True):
    status: PlanStatus
    stop_reason: StopReason
    objective: float
    bound: float
    """A valid upper bound on the objective of the full instance."""
    gap: float
    """(bound - objective) / |bound| (0 when both are 0)."""
    breakdown: ObjectiveBreakdown
    allocations: list[Allocation]
    utilization: list[PersonUtilization]
    unmet: list[UnmetDemand]
    pin_conflicts: list[PinConflict]
    stats: SolveStats


def relative_gap(objective: float, bound: float) -> float:
    if bound <= objective:
        return 0.0
    return (bound - objective) / max(abs(bound), 1e-9)
