"""Capacity planning: staff people across projects week by week (pure model and solver).

Typical use (e.g. inside a Temporal activity)::

    from scheduling import SolveOptions, load_instance, solve

    plan = solve(load_instance(raw_json), SolveOptions(time_limit_s=30),
                 progress=lambda p: activity.heartbeat(msgspec.to_builtins(p)),
                 should_stop=cancel_event.is_set)

See docs/capacity.md for the model, the objective and the JSON format.
"""

from scheduling.checker import CheckReport, Violation, check_plan
from scheduling.diff import AllocationChange, PlanDiff, diff_plans
from scheduling.generate import generate
from scheduling.instance import (
    Demand,
    Instance,
    Person,
    Pin,
    Project,
    Rules,
    TimeOff,
    Weights,
    dump_instance,
    load_instance,
)
from scheduling.options import CheckpointCallback, Progress, ProgressCallback, SolveOptions, StopCheck
from scheduling.plan import (
    Allocation,
    ObjectiveBreakdown,
    PersonUtilization,
    PersonWeek,
    PinConflict,
    Plan,
    SolveStats,
    UnmetDemand,
)
from scheduling.solver import solve
from scheduling.validation import InstanceError, validate_instance
from scheduling.whatif import (
    WhatIfResult,
    delay_project,
    drop_project,
    hire_person,
    with_delay,
    with_hire,
    without_project,
)

__all__ = [
    "Allocation",
    "AllocationChange",
    "CheckReport",
    "CheckpointCallback",
    "Demand",
    "Instance",
    "InstanceError",
    "ObjectiveBreakdown",
    "Person",
    "PersonUtilization",
    "PersonWeek",
    "Pin",
    "PinConflict",
    "Plan",
    "PlanDiff",
    "Progress",
    "ProgressCallback",
    "Project",
    "Rules",
    "SolveOptions",
    "SolveStats",
    "StopCheck",
    "TimeOff",
    "UnmetDemand",
    "Violation",
    "Weights",
    "WhatIfResult",
    "check_plan",
    "delay_project",
    "diff_plans",
    "drop_project",
    "dump_instance",
    "generate",
    "hire_person",
    "load_instance",
    "solve",
    "validate_instance",
    "with_delay",
    "with_hire",
    "without_project",
]
