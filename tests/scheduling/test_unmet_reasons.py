"""Each kind of unmet demand is explained with the right reason."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from scheduling import Pin, Plan, Rules, SolveOptions, TimeOff, UnmetDemand, check_plan, solve

if TYPE_CHECKING:
    from conftest import Kit

FAST = SolveOptions(time_limit_s=5)


def unmet_of(plan: Plan, demand_id: str) -> UnmetDemand:
    return next(u for u in plan.unmet if u.demand_id == demand_id)


def test_no_one_with_the_skill(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"rust": 2}, cost_rate=50)],
        [kit.project("P", bill_rate=150)],
        [kit.line("d", "P", 0, 16, "rust", 3)],
        weeks=1,
    )
    plan = solve(instance, FAST)
    u = unmet_of(plan, "d")
    assert (u.reason, u.unmet_hours, u.detail) == ("no_skill", 16, "nobody has rust ≥ L3")


def test_time_off(kit: Kit) -> None:
    away = TimeOff(start=date(2025, 3, 3), end=date(2025, 3, 7))
    instance = kit.make(
        [kit.person("g", {"go": 3}, cost_rate=50, time_off=[away])],
        [kit.project("P", bill_rate=150)],
        [kit.line("d", "P", 0, 16, "go", 2), kit.line("e", "P", 1, 16, "go", 2)],
    )
    plan = solve(instance, FAST)
    assert unmet_of(plan, "d").reason == "time_off"
    assert all(u.demand_id != "e" for u in plan.unmet)  # back in week 1


def test_pin_conflict_when_the_only_fit_is_pinned_off(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("s", {"sql": 3}, cost_rate=50)],
        [kit.project("X", bill_rate=150)],
        [kit.line("d", "X", 0, 16, "sql")],
        weeks=1,
        pins=[Pin(person_id="s", project_id="X", kind="must_not")],
    )
    plan = solve(instance, FAST)
    u = unmet_of(plan, "d")
    assert u.reason == "pin_conflict"
    assert "pinned off X" in u.detail


def test_capacity_taken_by_higher_priority(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("h", {"python": 3}, cost_rate=50)],
        [kit.project("HI", bill_rate=150, priority=1), kit.project("LO", bill_rate=150, priority=5)],
        [kit.line("hi", "HI", 0, 40, "python"), kit.line("lo", "LO", 0, 16, "python")],
        weeks=1,
    )
    plan = solve(instance, FAST)
    u = unmet_of(plan, "lo")
    assert u.reason == "capacity_taken_by_higher_priority"
    assert u.blocking_projects == ["HI"]
    assert u.unmet_hours == 16
    assert all(u.demand_id != "hi" for u in plan.unmet)


def test_not_profitable_for_unlikely_tentative_work(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"design": 2}, cost_rate=80)],
        [kit.project("T", bill_rate=100, tentative=True, probability=0.1)],
        [kit.line("d", "T", 0, 16, "design")],
        weeks=1,
    )
    plan = solve(instance, FAST)
    assert plan.allocations == []
    assert unmet_of(plan, "d").reason == "not_profitable"


def test_rule_limit_when_person_is_at_project_limit(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"qa": 2}, cost_rate=40, max_concurrent_projects=1)],
        [kit.project("A", bill_rate=200), kit.project("B", bill_rate=150)],
        [kit.line("a", "A", 0, 16, "qa"), kit.line("b", "B", 0, 8, "qa")],
        weeks=1,
    )
    plan = solve(instance, FAST)
    u = unmet_of(plan, "b")
    assert u.reason == "rule_limit"
    assert "already work on 1 projects" in u.detail
    assert check_plan(instance, plan).ok


def test_a_minimum_above_everyones_capacity_is_a_rule_not_time_off(kit: Kit) -> None:
    # Issue 19: "10 of 10 ... are away" though nobody was away; 20 h a week is below the 24 h minimum.
    instance = kit.make(
        [kit.person(f"p{i}", {"go": 3}, cost_rate=50, weekly_capacity_hours=20) for i in range(3)],
        [kit.project("P", bill_rate=150)],
        [kit.line("d", "P", 0, 24, "go", 2)],
        weeks=1,
        rules=Rules(min_hours=24),
    )
    plan = solve(instance, FAST)
    u = unmet_of(plan, "d")
    assert (u.reason, u.unmet_hours) == ("rule_limit", 24)
    assert u.detail == (
        "all 3 people with go ≥ L2 have less capacity a week than the 24 h minimum per person and project"
    )


def test_time_off_stays_the_reason_when_the_minimum_fits_a_full_week(kit: Kit) -> None:
    away = TimeOff(start=date(2025, 3, 3), end=date(2025, 3, 5))
    instance = kit.make(
        [
            kit.person("g", {"go": 3}, cost_rate=50, time_off=[away]),
            kit.person("h", {"go": 3}, weekly_capacity_hours=8),
        ],
        [kit.project("P", bill_rate=150)],
        [kit.line("d", "P", 0, 24, "go", 2)],
        weeks=1,
        rules=Rules(min_hours=24),
    )
    u = unmet_of(solve(instance, FAST), "d")
    assert u.reason == "time_off"
    assert u.detail == "1 of 2 people with go ≥ L2 are away in week 0, 1 below the 24 h minimum"
