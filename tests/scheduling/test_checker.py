"""Every rule broken on purpose is caught by the independent plan checker."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import msgspec
import pytest

from scheduling import Allocation, Instance, Pin, Plan, Rules, SolveOptions, check_plan, solve

if TYPE_CHECKING:
    from conftest import Kit


@pytest.fixture
def case(kit: Kit) -> tuple[Instance, Plan]:
    instance = kit.make(
        [
            kit.person("a", {"python": 3, "react": 2}, cost_rate=50),
            kit.person("b", {"python": 2}, cost_rate=40, country="DE", max_concurrent_projects=2),
            kit.person("c", {"react": 3}, cost_rate=60),
        ],
        [kit.project("P", bill_rate=150), kit.project("Q", bill_rate=120), kit.project("R", bill_rate=100)],
        [
            kit.line("p0", "P", 0, 24, "python", 2),
            kit.line("p1", "P", 1, 24, "python", 2),
            kit.line("q0", "Q", 0, 16, "react", 2),
            kit.line("q1", "Q", 1, 16, "react", 2),
            kit.line("r0", "R", 0, 8, "python", 1),
        ],
        pins=[
            Pin(person_id="c", project_id="Q", kind="must"),
            Pin(person_id="b", project_id="R", kind="must_not"),
        ],
        # Week 1 of 2025-04-14 holds Good Friday and week 2 Easter Monday in Germany.
        start=date(2025, 4, 14),
        rules=Rules(block_hours=4, min_hours=8, max_projects_per_week=3),
    )
    plan = solve(instance, SolveOptions(time_limit_s=5))
    assert check_plan(instance, plan).ok
    return instance, plan


def with_allocations(plan: Plan, allocations: list[Allocation]) -> Plan:
    return msgspec.structs.replace(plan, allocations=allocations)


def rules_broken(instance: Instance, plan: Plan) -> set[str]:
    return check_plan(instance, plan).rules()


def test_valid_plan_passes_and_objective_matches(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    report = check_plan(instance, plan)
    assert report.violations == []
    assert report.objective == pytest.approx(plan.objective)
    assert report.churn_events == plan.breakdown.churn_events


def test_skill_or_level_mismatch_is_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    bad = [*plan.allocations, Allocation(person_id="c", project_id="P", demand_id="p0", week=0, hours=8)]
    assert "skill_fit" in rules_broken(instance, with_allocations(plan, bad))


def test_hours_outside_blocks_are_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    first = plan.allocations[0]
    bad = [msgspec.structs.replace(first, hours=first.hours + 2), *plan.allocations[1:]]
    assert "block" in rules_broken(instance, with_allocations(plan, bad))


def test_below_minimum_hours_is_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    bad = [a for a in plan.allocations if a.demand_id != "r0"] + [
        Allocation(person_id="a", project_id="R", demand_id="r0", week=0, hours=4)
    ]
    assert "min_hours" in rules_broken(instance, with_allocations(plan, bad))


def test_capacity_after_public_holiday_is_caught(kit: Kit) -> None:
    # 14-18 April 2025 holds Good Friday in Germany: b has 4 of 5 days, so 32 h, not 40.
    instance = kit.make(
        [kit.person("b", {"python": 2}, country="DE")],
        [kit.project("P", bill_rate=150)],
        [kit.line("p0", "P", 0, 40, "python")],
        weeks=1,
        start=date(2025, 4, 14),
    )

    def plan_with(hours: float) -> Plan:
        return kit.bare_plan([Allocation(person_id="b", project_id="P", demand_id="p0", week=0, hours=hours)])

    broken = check_plan(instance, plan_with(36))
    capacity = [v for v in broken.violations if v.rule == "capacity"]
    assert len(capacity) == 1 and "only 32 h available" in capacity[0].message
    assert "capacity" not in check_plan(instance, plan_with(32)).rules()


def test_overstaffed_line_is_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    others = [a for a in plan.allocations if a.demand_id != "q1"]
    bad = [
        *others,
        Allocation(person_id="c", project_id="Q", demand_id="q1", week=1, hours=16),
        Allocation(person_id="a", project_id="Q", demand_id="q1", week=1, hours=8),
    ]
    assert "overstaffed" in rules_broken(instance, with_allocations(plan, bad))


def test_too_many_projects_in_a_week_is_caught(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"x": 1}, max_concurrent_projects=2)],
        [kit.project("P"), kit.project("Q"), kit.project("R")],
        [kit.line("p", "P", 0, 8, "x"), kit.line("q", "Q", 0, 8, "x"), kit.line("r", "R", 0, 8, "x")],
        weeks=1,
    )
    allocations = [Allocation(person_id="a", project_id=j, demand_id=j.lower(), week=0, hours=8) for j in "PQR"]
    assert "max_projects" in rules_broken(instance, kit.bare_plan(allocations))


def test_must_not_pin_violation_is_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    others = [a for a in plan.allocations if a.demand_id != "r0"]
    bad = [*others, Allocation(person_id="b", project_id="R", demand_id="r0", week=0, hours=8)]
    assert "must_not_pin" in rules_broken(instance, with_allocations(plan, bad))


def test_missing_must_pin_is_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    bad = [a for a in plan.allocations if not (a.person_id == "c" and a.project_id == "Q")]
    assert "must_pin" in rules_broken(instance, with_allocations(plan, bad))


def test_duplicate_and_unknown_allocations_are_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    bad = [
        *plan.allocations,
        plan.allocations[0],
        Allocation(person_id="zed", project_id="P", demand_id="p0", week=0, hours=8),
        Allocation(person_id="a", project_id="P", demand_id="p0", week=1, hours=8),
    ]
    broken = rules_broken(instance, with_allocations(plan, bad))
    assert {"duplicate", "unknown_reference"} <= broken


def test_misreported_objective_bound_and_unmet_are_caught(case: tuple[Instance, Plan]) -> None:
    instance, plan = case
    assert "objective" in rules_broken(instance, msgspec.structs.replace(plan, objective=plan.objective + 100))
    assert "bound" in rules_broken(instance, msgspec.structs.replace(plan, bound=plan.objective - 100, gap=0.0))
    fewer = [a for a in plan.allocations if a.demand_id != "p1"]
    broken = rules_broken(instance, with_allocations(plan, fewer))
    assert {"unmet_report", "utilization_report", "objective"} <= broken
