"""Pins: honoured when possible, infeasible ones reported clearly (never a crash)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import msgspec

from scheduling import Instance, Pin, Rules, SolveOptions, TimeOff, check_plan, solve

if TYPE_CHECKING:
    from conftest import Kit

FAST = SolveOptions(time_limit_s=5)


def test_must_pin_is_honoured_even_when_worse(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("cheap", {"go": 2}, cost_rate=30), kit.person("pricey", {"go": 2}, cost_rate=90)],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go"), kit.line("d1", "P", 1, 16, "go")],
        pins=[Pin(person_id="pricey", project_id="P", kind="must", weeks=[1])],
    )
    plan = solve(instance, FAST)
    assert plan.pin_conflicts == []
    assert any(a.person_id == "pricey" and a.week == 1 and a.hours >= 8 for a in plan.allocations)
    assert check_plan(instance, plan).ok


def test_must_pin_during_time_off_is_reported_not_crashing(kit: Kit) -> None:
    away = TimeOff(start=date(2025, 3, 3), end=date(2025, 3, 7))
    instance = kit.make(
        [kit.person("a", {"go": 2}, cost_rate=30, time_off=[away])],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go"), kit.line("d1", "P", 1, 16, "go")],
        pins=[Pin(person_id="a", project_id="P", kind="must")],
    )
    plan = solve(instance, FAST)
    assert [(c.person_id, c.project_id, c.week, c.pins) for c in plan.pin_conflicts] == [("a", "P", 0, [0])]
    assert "time off" in plan.pin_conflicts[0].reason
    assert any(a.person_id == "a" and a.week == 1 for a in plan.allocations)  # the feasible week holds
    assert check_plan(instance, plan).ok


def test_contradicting_and_unfitting_pins_are_reported(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 2}), kit.person("b", {"css": 2})],
        [kit.project("P", bill_rate=150)],
        [kit.line("d0", "P", 0, 16, "go")],
        weeks=1,
        pins=[
            Pin(person_id="a", project_id="P", kind="must"),
            Pin(person_id="a", project_id="P", kind="must_not"),
            Pin(person_id="b", project_id="P", kind="must"),
        ],
    )
    plan = solve(instance, FAST)
    reasons = {c.person_id: c.reason for c in plan.pin_conflicts}
    assert reasons["a"].startswith("contradicts must-not pin(s) #1")
    assert "fits none of P's demand lines" in reasons["b"]
    assert plan.allocations == []  # a is pinned off, b does not fit
    assert check_plan(instance, plan).ok


def test_jointly_infeasible_pins_drop_the_latest_and_name_the_others(kit: Kit) -> None:
    instance = kit.make(
        [kit.person("a", {"go": 2}, max_concurrent_projects=2)],
        [kit.project(j, bill_rate=150) for j in "PQR"],
        [kit.line(j.lower(), j, 0, 8, "go") for j in "PQR"],
        weeks=1,
        pins=[Pin(person_id="a", project_id=j, kind="must") for j in "PQR"],
    )
    plan = solve(instance, FAST)
    assert len(plan.pin_conflicts) == 1
    conflict = plan.pin_conflicts[0]
    assert (conflict.project_id, conflict.pins) == ("R", [2])
    assert "pinned to 3 projects in week 0 (limit 2)" in conflict.reason
    assert conflict.reason.endswith("; conflicts with pin(s) #0 (a on P), #1 (a on Q)")
    assert sorted(a.project_id for a in plan.allocations) == ["P", "Q"]
    assert check_plan(instance, plan).ok


def two_people_pinned_to_two_projects(kit: Kit, capacity: float, limit: int, hours: float) -> Instance:
    people = [
        msgspec.structs.replace(kit.person(pid, {"go": 2}, weekly_capacity_hours=capacity), name=name)
        for pid, name in (("a", "Ada Lovelace"), ("b", "Bo Diddley"))
    ]
    projects = [
        msgspec.structs.replace(kit.project(pid, bill_rate=100), name=name)
        for pid, name in (("P", "Pay"), ("Q", "Quay"))
    ]
    return kit.make(
        people,
        projects,
        [kit.line(f"{j}{w}", j, w, hours, "go") for j in "PQ" for w in range(2)],
        pins=[Pin(person_id=p, project_id=j, kind="must") for p in "ab" for j in "PQ"],
        rules=Rules(max_projects_per_week=limit),
    )


def test_the_fewest_pins_are_dropped_and_each_names_only_the_pin_it_conflicts_with(kit: Kit) -> None:
    # Issue 19: one project a week each, so per person-week one pin goes: 4 drops (the old code dropped 6).
    instance = two_people_pinned_to_two_projects(kit, capacity=40, limit=1, hours=24)
    plan = solve(instance, FAST)
    assert sorted((c.person_id, c.project_id, c.week, c.reason) for c in plan.pin_conflicts) == [
        (p, "Q", w, f"{name} would be pinned to 2 projects in week {w} (limit 1); conflicts with pin(s) {pin}")
        for p, name, pin in (
            ("a", "Ada Lovelace", "#0 (Ada Lovelace on Pay)"),
            ("b", "Bo Diddley", "#2 (Bo Diddley on Pay)"),
        )
        for w in (0, 1)
    ]
    assert sorted((a.person_id, a.project_id, a.week) for a in plan.allocations) == [
        ("a", "P", 0), ("a", "P", 1), ("b", "P", 0), ("b", "P", 1)
    ]
    assert check_plan(instance, plan).ok


def test_a_conflict_names_the_rule_the_numbers_break_not_one_the_hours_satisfy(kit: Kit) -> None:
    # 20 h each covers two 8 h minimums; it is the 12 h of demand per project-week that cannot take two people.
    instance = two_people_pinned_to_two_projects(kit, capacity=20, limit=2, hours=12)
    plan = solve(instance, FAST)
    assert len(plan.pin_conflicts) == 4
    for c in plan.pin_conflicts:
        project = {"P": "Pay", "Q": "Quay"}[c.project_id]
        assert c.reason.startswith(
            f"{project}'s week-{c.week} demand (12 h) cannot give all 2 pinned people the 8 h minimum each (16 h); "
            "conflicts with pin(s) #"
        )
        assert "minimum each with 20 h" not in c.reason
    assert check_plan(instance, plan).ok


def test_pins_that_fit_together_are_all_kept(kit: Kit) -> None:
    instance = two_people_pinned_to_two_projects(kit, capacity=24, limit=2, hours=24)
    plan = solve(instance, FAST)
    assert plan.pin_conflicts == []
    assert {(a.person_id, a.project_id) for a in plan.allocations} >= {("a", "P"), ("a", "Q"), ("b", "P"), ("b", "Q")}
