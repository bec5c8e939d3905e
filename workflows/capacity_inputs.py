"""Capacity planning requests and the data the ``CapacityPlan`` workflow and its activities exchange.

Pure msgspec structs shared by the API (which decodes and validates requests), the activities (which build
the ``scheduling`` instance from a stored request) and the workflow. Money and rates are exact decimals;
the solver works in floats and its objective is an estimate, never an invoice amount.

A plan request is either an explicit ``instance`` (the JSON format of docs/capacity.md) or, usually, a
horizon (``start``, ``weeks``) plus demand per project: the org's active people (role, skills, capacity,
cost rate, utilization target, country) are read when the plan starts solving.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

SkillLevel = Annotated[int, msgspec.Meta(ge=1, le=5)]
Priority = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 highest … 5 lowest")]
Week = Annotated[int, msgspec.Meta(ge=0, le=519, description="week index from `start` (0 = the week of `start`)")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
SkillName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TimeOffIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: date
    end: date
    reason: ShortText = ""


class PersonSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Planning facts the people table does not hold: time off, a project limit, a holiday region."""

    person_id: uuid.UUID
    time_off: list[TimeOffIn] = []
    max_concurrent_projects: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None
    subdivision: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class DemandIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Hours wanted on the project in ``week`` (through ``until_week`` when given): a placeholder (``skill``
    at ``min_level``) anyone who fits can staff, or a named ``person_id``."""

    week: Week
    until_week: Week | None = None
    hours: Annotated[Decimal, msgspec.Meta(description="a positive multiple of rules.block_hours")]
    role: ShortText = ""
    skill: SkillName | None = None
    min_level: SkillLevel = 1
    person_id: uuid.UUID | None = None
    required: Annotated[
        bool, msgspec.Meta(description="must be staffed when the rules allow (internal work); else the plan says why")
    ] = False
    value_per_hour: Annotated[
        Decimal | None, msgspec.Meta(description="value of an hour of this line instead of the bill rate (0..1e6)")
    ] = None


class ProjectDemand(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    project_id: uuid.UUID
    priority: Priority = 3
    bill_rate: Annotated[Decimal, msgspec.Meta(description="per hour; default: the rate card")] | None = None
    tentative: bool = False
    probability: Annotated[Decimal, msgspec.Meta(description="win probability of a tentative project")] = Decimal(1)
    existing_team: list[uuid.UUID] | None = None
    """People on the project just before ``start``; default: its (non-manager) project members."""
    demand: list[DemandIn] = []


class PinIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    person_id: uuid.UUID
    project_id: uuid.UUID
    kind: Literal["must", "must_not"]
    weeks: list[Week] | None = None


class RulesIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    block_hours: Decimal = Decimal(4)
    min_hours: Decimal = Decimal(8)
    max_projects_per_week: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    working_days: Annotated[int, msgspec.Meta(ge=1, le=7)] = 5


class WeightsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    revenue: Decimal = Decimal(1)
    cost: Decimal = Decimal(1)
    churn_per_change: Decimal = Decimal(300)
    under_utilization_per_hour: Decimal = Decimal(15)
    over_utilization_per_hour: Decimal = Decimal(25)
    priority_multipliers: dict[int, Decimal] | None = None


class SolveSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    time_limit_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    relative_gap_limit: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0


class PlanRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: ShortText = ""
    instance: dict[str, Any] | None = None
    """An explicit instance (docs/capacity.md); then every other field but name and solve must be absent."""
    start: date | None = None
    """A Monday: week 0."""
    weeks: Annotated[int, msgspec.Meta(ge=1, le=104)] | None = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None
    """Cost and bill rates are in this currency (default: the org's); people paid in another are left out."""
    people: list[uuid.UUID] | None = None
    """Only these people (default: every active person)."""
    person_settings: list[PersonSettings] = []
    projects: list[ProjectDemand] = []
    pins: list[PinIn] = []
    rules: RulesIn = msgspec.field(default_factory=RulesIn)
    weights: WeightsIn = msgspec.field(default_factory=WeightsIn)
    solve: SolveSettings = msgspec.field(default_factory=SolveSettings)


class HirePerson(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    skills: dict[SkillName, SkillLevel]
    cost_rate: Decimal
    weekly_capacity_hours: Decimal = Decimal(40)
    utilization_target: Decimal = Decimal("0.8")
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] | None = None
    max_concurrent_projects: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None


class WhatIfRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``hire`` (``person``), ``delay`` (``project_id`` by ``weeks``, may be negative) or ``drop`` (a tentative
    ``project_id``); solved from the base plan's instance, starting from its plan."""

    kind: Literal["hire", "delay", "drop"]
    person: HirePerson | None = None
    project_id: uuid.UUID | None = None
    weeks: Annotated[int, msgspec.Meta(ge=-104, le=104)] | None = None
    name: ShortText = ""
    solve: SolveSettings | None = None


# ---- workflow / activity payloads -----------------------------------------------------------------------


class CapacityPlanInput(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    plan_id: str
    time_limit_s: float


class CapacitySolveOutcome(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    """``done``, ``cancelled`` or ``failed``."""
    objective: float | None = None
    gap: float | None = None
    message: str = ""


class CapacityFinish(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    plan_id: str
    status: Literal["cancelled", "failed"]
    message: str


class SolveHeartbeat(msgspec.Struct, frozen=True, kw_only=True):
    """Heartbeat details of the solve activity: progress, and how far the run got (for a retry)."""

    phase: str
    elapsed_s: float
    """Solve time spent by this and earlier attempts."""
    best_objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    checkpoint_objective: float | None = None
    """Objective of the allocations saved in ``capacity_plans.checkpoint`` (None: nothing saved yet)."""
